// Package lookup runs one login's whole verification in direct mode: user check, platform
// check, IMDS fetches, signer chain and staples, and the per-block verdicts, with an audit record
// for every decision.
//
// Contract: a key is returned only when every check of SPEC.md passed; any doubt ends in an
// error or a rejection. Nothing here prints: the caller writes the accepted keys out.
package lookup

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eic-agent/eic-agent/agent/config"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/imds"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/nss"
	"github.com/eic-agent/eic-agent/agent/platform"
	"github.com/eic-agent/eic-agent/agent/signer"
)

// Config holds what one lookup needs. Zero values: sysfs at /sys, system trust store, the
// SPEC's domain allow-list, time.Now, a no-op logger.
type Config struct {
	IMDS           *imds.Client
	SysfsRoot      string
	NSS            nss.Config
	CA             string
	AllowedDomains []string
	Now            func() time.Time
	Log            *zap.Logger
}

// Outcome says how far a lookup went.
type Outcome int

// Outcomes of a lookup that ran to its end (errors are separate).
const (
	// Verified: the bundle was evaluated; Accepted may still be empty.
	Verified Outcome = iota
	// NoSuchUser: NSS does not know the user; nothing was fetched.
	NoSuchUser
	// NotEC2: this host is not an EC2 instance; nothing was trusted.
	NotEC2
	// NoKeys: IMDS has no keys for the user.
	NoKeys
	// NoCandidates: keys exist, but no block could pass (expired, other instance, other key), so
	// the signer was not fetched.
	NoCandidates
)

func (o Outcome) String() string {
	switch o {
	case Verified:
		return "verified"
	case NoSuchUser:
		return "no-such-user"
	case NotEC2:
		return "not-ec2"
	case NoKeys:
		return "no-keys"
	case NoCandidates:
		return "no-candidates"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Result is what a lookup decided.
type Result struct {
	Outcome  Outcome
	User     string
	Accepted []keys.Accepted
	Rejected []keys.Rejected
	// RejectedMore counts, per reason, rejected blocks that Rejected does not list: an answer of
	// the service itemises only the first few (wire.MaxRejectedItems). Direct mode lists all.
	RejectedMore map[keys.Reason]int
	// Signer is the verified signer, when one was needed.
	Signer *signer.Signer
	// Blocks is the parsed bundle, when one was fetched.
	Blocks []bundle.Block
	// Detail explains NotEC2.
	Detail string
}

// Lines returns the accepted keys as authorized_keys lines, each ending in a newline.
func (r Result) Lines() string {
	var b strings.Builder
	for _, a := range r.Accepted {
		b.WriteString(a.Line)
		b.WriteByte('\n')
	}
	return b.String()
}

// Run performs the lookup for user and records every decision in the audit log. fp, when not
// nil, restricts the answer to that key.
func Run(ctx context.Context, cfg Config, user string, fp *keys.Fingerprint) (Result, error) {
	res, err := run(ctx, cfg, user, fp)
	Record(cfg.logger(), res, err)
	return res, err
}

func run(ctx context.Context, cfg Config, user string, fp *keys.Fingerprint) (Result, error) {
	res := Result{User: user}
	exists, err := CheckUser(ctx, cfg, user)
	if err != nil {
		return res, err
	}
	if !exists {
		res.Outcome = NoSuchUser
		return res, nil
	}
	id, err := Identify(ctx, cfg)
	if err != nil {
		return res, err
	}
	if !id.OnEC2 {
		res.Outcome, res.Detail = NotEC2, id.Reason
		return res, nil
	}
	blocks, found, err := FetchBlocks(ctx, cfg, user)
	if err != nil {
		return res, err
	}
	if !found {
		res.Outcome = NoKeys
		return res, nil
	}
	res.Blocks = blocks
	now := cfg.now()
	if pre, candidate := Precheck(blocks, id.InstanceID, now, fp); !candidate {
		res.Outcome, res.Rejected = NoCandidates, pre
		return res, nil
	}
	sg, err := TrustedSigner(ctx, cfg)
	if err != nil {
		res.Rejected = Untrusted(blocks, err)
		return res, err
	}
	return Decide(res, sg, id.InstanceID, cfg.now(), fp), nil
}

func (cfg Config) logger() *zap.Logger {
	if cfg.Log == nil {
		return zap.NewNop()
	}
	return cfg.Log
}

func (cfg Config) now() time.Time {
	if cfg.Now != nil {
		return cfg.Now()
	}
	return time.Now()
}

// CheckUser validates the name and asks NSS whether the user exists.
func CheckUser(ctx context.Context, cfg Config, user string) (bool, error) {
	if err := ValidateUser(user); err != nil {
		return false, err
	}
	exists, err := nss.UserExists(ctx, cfg.NSS, user)
	if err != nil {
		return false, fmt.Errorf("look up user %q: %w", user, err)
	}
	return exists, nil
}

// Identity is what the host is: an EC2 instance with an id, or not one at all.
type Identity struct {
	OnEC2      bool
	InstanceID string
	// Reason says why the host is not taken for an instance.
	Reason string
}

// Identify runs the platform check and fetches the instance id. A host that is not an EC2
// instance gets no IMDS request at all.
func Identify(ctx context.Context, cfg Config) (Identity, error) {
	sysfs := cfg.SysfsRoot
	if sysfs == "" {
		sysfs = "/sys"
	}
	plat := platform.Detect(sysfs)
	if plat.Kind == platform.NotEC2 {
		return Identity{Reason: plat.Reason}, nil
	}
	if cfg.IMDS == nil {
		return Identity{}, errors.New("lookup: no IMDS client configured")
	}
	instanceID, err := cfg.IMDS.InstanceID(ctx)
	if err != nil {
		return Identity{}, err
	}
	if err := plat.Confirm(instanceID); err != nil {
		return Identity{Reason: err.Error()}, nil
	}
	return Identity{OnEC2: true, InstanceID: instanceID}, nil
}

// FetchBlocks fetches and parses the user's key bundle; found is false when IMDS has none.
func FetchBlocks(ctx context.Context, cfg Config, user string) (blocks []bundle.Block, found bool, err error) {
	body, err := cfg.IMDS.Keys(ctx, user)
	if errors.Is(err, imds.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	blocks, err = bundle.Parse(body)
	if err != nil {
		return nil, true, fmt.Errorf("key bundle for %q: %w", user, err)
	}
	return blocks, true, nil
}

// Decide evaluates res.Blocks against a trusted signer and fills in the verdicts.
func Decide(res Result, sg *signer.Signer, instanceID string, now time.Time, fp *keys.Fingerprint) Result {
	res.Signer = sg
	res.Outcome = Verified
	res.Accepted, res.Rejected = keys.Evaluate(keys.Input{
		Blocks:      res.Blocks,
		SignerKey:   sg.Key,
		InstanceID:  instanceID,
		Now:         now,
		Fingerprint: fp,
	})
	return res
}

// TrustedSigner fetches the placement, the signer chain and its staples, and verifies them as
// VerifySigner does. The fetches and the trust store load run in parallel: they are
// independent, and a login waits for the slowest one only.
func TrustedSigner(ctx context.Context, cfg Config) (*signer.Signer, error) {
	var (
		p       Placement
		chain   []byte
		staples [][]byte
		roots   *x509.CertPool
		errs    [4]error
		wg      sync.WaitGroup
	)
	wg.Add(4)
	go func() { defer wg.Done(); p, errs[0] = FetchPlacement(ctx, cfg) }()
	go func() { defer wg.Done(); chain, errs[1] = cfg.IMDS.SignerChain(ctx) }()
	go func() { defer wg.Done(); staples, errs[2] = FetchStaples(ctx, cfg) }()
	go func() { defer wg.Done(); roots, errs[3] = loadRoots(cfg) }()
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return verifySigner(cfg, p, chain, staples, roots, cfg.now())
}

func fetchStaples(ctx context.Context, c *imds.Client, names []string) ([][]byte, error) {
	out := make([][]byte, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := c.Staple(ctx, name)
			if err == nil {
				raw, err = signer.DecodeStaple(raw)
			}
			out[i], errs[i] = raw, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fetch OCSP staples: %w", err)
	}
	return out, nil
}

// checkDomain refuses a domain that is not allowed: building the expected signer name from an
// attacker-chosen domain would let anyone holding a public certificate for
// managed-ssh-signer.x.attacker.example sign keys.
func checkDomain(domain string, allowed []string) error {
	if len(allowed) == 0 {
		allowed = config.Default().AllowedDomains()
	}
	if slices.Contains(allowed, domain) {
		return nil
	}
	return fmt.Errorf("untrusted signer: IMDS reports service domain %q, which is not on the allow-list (%s); add it to trust.extra_domains only if this is a genuine AWS partition", domain, strings.Join(allowed, ", "))
}

// checkPlacement requires the zone to belong to the region. Reading the region instead of
// cutting the zone's last letter keeps Local Zones and Wavelength zones working (upstream #28).
func checkPlacement(region, zone string) error {
	if strings.HasPrefix(zone, region+"-") {
		return nil
	}
	if len(zone) == len(region)+1 && strings.HasPrefix(zone, region) {
		if c := zone[len(zone)-1]; c >= 'a' && c <= 'z' {
			return nil
		}
	}
	return fmt.Errorf("imds: availability zone %q does not belong to region %q; refusing to pick a signer name", zone, region)
}
