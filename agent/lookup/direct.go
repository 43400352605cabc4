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

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/imds"
	"github.com/eic-agent/eic-agent/agent/nss"
	"github.com/eic-agent/eic-agent/agent/platform"
	"github.com/eic-agent/eic-agent/agent/signer"
	"github.com/eic-agent/eic-agent/agent/truststore"
)

// Direct is the Source that asks the system and IMDS every time: NSS for the user, sysfs and
// IMDS for the instance, IMDS for the bundle, the chain and the staples, the trust store on
// disk for the roots. Its fetch and verify methods are also what the warm service's source
// fetches through. It is safe for concurrent use.
type Direct struct {
	sysfs   string
	nss     nss.Config
	ca      string
	domains []string
	now     func() time.Time
	// client is made on first use: a login the warm service answers needs none.
	client func() *imds.Client
}

// NewDirect is the one place where the configuration becomes a login's settings. now is the
// clock signer verification uses (nil: time.Now).
func NewDirect(f config.Config, now func() time.Time) *Direct {
	if now == nil {
		now = time.Now
	}
	return &Direct{
		sysfs:   f.Platform.SysfsRoot,
		nss:     nss.Config{Getent: f.Users.Getent},
		ca:      f.Trust.CA,
		domains: f.AllowedDomains(),
		now:     now,
		client: sync.OnceValue(func() *imds.Client {
			return imds.New(imds.Config{
				Endpoint:       f.IMDSEndpoint(),
				RequestTimeout: f.IMDS.RequestTimeout.Duration,
				Attempts:       f.IMDS.Attempts,
				MaxBodyBytes:   f.IMDS.MaxResponseBytes,
			})
		}),
	}
}

// IMDS is the client every fetch of d goes through.
func (d *Direct) IMDS() *imds.Client { return d.client() }

// UserExists asks NSS.
func (d *Direct) UserExists(ctx context.Context, user string) (bool, error) {
	return nss.UserExists(ctx, d.nss, user)
}

// Identity runs the platform check and fetches the instance id. A host that is not an EC2
// instance gets no IMDS request at all.
func (d *Direct) Identity(ctx context.Context) (Identity, error) {
	sysfs := d.sysfs
	if sysfs == "" {
		sysfs = platform.DefaultSysfsRoot
	}
	plat := platform.Detect(sysfs)
	if plat.Kind == platform.NotEC2 {
		return Identity{Reason: plat.Reason}, nil
	}
	instanceID, err := d.IMDS().InstanceID(ctx)
	if err != nil {
		return Identity{}, err
	}
	if err := plat.Confirm(instanceID); err != nil {
		return Identity{Reason: err.Error()}, nil
	}
	return Identity{OnEC2: true, InstanceID: instanceID}, nil
}

// Bundle fetches and parses the user's key bundle. A direct fetch is always fresh.
func (d *Direct) Bundle(ctx context.Context, user string, _ *Bundle) (*Bundle, error) {
	body, err := d.IMDS().Keys(ctx, user)
	if errors.Is(err, imds.ErrNotFound) {
		return &Bundle{}, nil
	}
	if err != nil {
		return nil, err
	}
	blocks, err := bundle.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("key bundle for %q: %w", user, err)
	}
	return &Bundle{Blocks: blocks, Found: true}, nil
}

// Signer fetches the placement, the chain and its staples and verifies them (VerifySigner).
// The fetches and the trust store load run in parallel: they are independent, and a login
// waits for the slowest one only.
func (d *Direct) Signer(ctx context.Context) (*signer.Signer, error) {
	var (
		p       Placement
		chain   []byte
		staples [][]byte
		roots   *x509.CertPool
		errs    [4]error
		wg      sync.WaitGroup
	)
	wg.Add(4)
	go func() { defer wg.Done(); p, errs[0] = d.Placement(ctx) }()
	go func() { defer wg.Done(); chain, errs[1] = d.Chain(ctx) }()
	go func() { defer wg.Done(); staples, errs[2] = d.Staples(ctx) }()
	go func() { defer wg.Done(); roots, errs[3] = d.roots() }()
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return d.verify(p, chain, staples, roots)
}

// Recheck has nothing to do: the signer was fetched within this login, after the bundle.
func (d *Direct) Recheck(_ context.Context, sg *signer.Signer, _ *Bundle, _ [][32]byte) (*signer.Signer, error) {
	return sg, nil
}

// Placement is where the instance runs as IMDS reports it. The values are shape-checked by the
// IMDS client; VerifySigner checks them against each other and the domain allow-list.
type Placement struct {
	Region, Zone, Domain string
}

// Placement fetches the region, the availability zone and the service domain in parallel.
func (d *Direct) Placement(ctx context.Context) (Placement, error) {
	var (
		p    Placement
		errs [3]error
		wg   sync.WaitGroup
	)
	c := d.IMDS()
	wg.Add(3)
	go func() { defer wg.Done(); p.Region, errs[0] = c.Region(ctx) }()
	go func() { defer wg.Done(); p.Zone, errs[1] = c.Zone(ctx) }()
	go func() { defer wg.Done(); p.Domain, errs[2] = c.Domain(ctx) }()
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return Placement{}, err
	}
	return p, nil
}

// Chain fetches the signer-cert document.
func (d *Direct) Chain(ctx context.Context) ([]byte, error) { return d.IMDS().SignerChain(ctx) }

// Staples fetches the list of OCSP staples and every staple on it, decoded to DER.
func (d *Direct) Staples(ctx context.Context) ([][]byte, error) {
	c := d.IMDS()
	names, err := c.StapleNames(ctx)
	if err != nil {
		return nil, err
	}
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

// VerifySigner is the one decision on a signer, whoever fetched what it looks at: the zone must
// belong to the region, the domain must be allowed, and the chain and staples must verify now
// against the trust store as it is on disk now (loaded on every call, so a changed store is
// never missed).
func (d *Direct) VerifySigner(p Placement, chain []byte, staples [][]byte) (*signer.Signer, error) {
	roots, err := d.roots()
	if err != nil {
		return nil, err
	}
	return d.verify(p, chain, staples, roots)
}

func (d *Direct) roots() (*x509.CertPool, error) {
	roots, _, err := truststore.Load(d.ca)
	if err != nil {
		return nil, fmt.Errorf("trust store: %w", err)
	}
	return roots, nil
}

func (d *Direct) verify(p Placement, chain []byte, staples [][]byte, roots *x509.CertPool) (*signer.Signer, error) {
	if err := checkPlacement(p.Region, p.Zone); err != nil {
		return nil, err
	}
	if err := checkDomain(p.Domain, d.domains); err != nil {
		return nil, err
	}
	sg, err := signer.Verify(signer.Input{
		ChainPEM:   chain,
		Staples:    staples,
		Roots:      roots,
		ExpectedCN: signer.ExpectedCN(p.Region, p.Domain),
		Now:        d.now(),
	})
	if err != nil {
		return nil, fmt.Errorf("untrusted signer: %w", err)
	}
	return sg, nil
}

// checkDomain refuses a domain that is not allowed: building the expected signer name from an
// attacker-chosen domain would let anyone holding a public certificate for
// managed-ssh-signer.x.attacker.example sign keys.
func checkDomain(domain string, allowed []string) error {
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
