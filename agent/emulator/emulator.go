// Package emulator is a fake EC2 instance metadata service (IMDSv2) over real HTTP, with the
// EC2 Instance Connect parts: key bundles signed by a test PKI, the signer chain and its OCSP
// staples, a push that stands in for SendSSHPublicKey, faults, the signer's life cycle
// (RevokeSigner, RotateSigner) and per-path request counters. Package control puts an HTTP
// control API and the eic-emulator command line in front of it.
//
// Contract: it behaves like IMDS where our client can tell (tokens with a TTL, 401 without a
// valid token, 403 for a token PUT carrying X-Forwarded-For, paths with or without a trailing
// slash, HEAD, 404 for anything unknown) and lets tests break each of those on purpose. It is
// test and demo material: every key lives in memory, nothing here is meant to be secure.
// An *Emulator is safe for concurrent use.
package emulator

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

// Config describes the instance the emulator pretends to be. Zero values mean the defaults.
type Config struct {
	InstanceID string // default "i-0123456789abcdef0"
	Region     string // default "us-east-1"
	Zone       string // default "us-east-1a"
	Domain     string // default "amazonaws.com"
	// PKI signs bundles and staples; default: a fresh hierarchy for Region and Domain.
	PKI *pki.PKI
	// Now is the emulator's clock for token expiry, key expiry and staple times; default time.Now.
	Now func() time.Time
	// KeyTTL is how long a pushed key stays (default 60s, as the service does).
	KeyTTL time.Duration
	// StapleCerts is what the certs field of every served staple carries (default: nothing, or
	// the delegated responder under StapleDelegated); SetStapleCerts changes it later.
	StapleCerts pki.Certs
}

// Defaults used when Config leaves a field empty.
const (
	DefaultInstanceID = "i-0123456789abcdef0"
	DefaultRegion     = "us-east-1"
	DefaultZone       = "us-east-1a"
	DefaultDomain     = "amazonaws.com"
	DefaultKeyTTL     = 60 * time.Second
	// DefaultCaller is the #Caller of a push that does not name one.
	DefaultCaller = "arn:aws:iam::123456789012:user/eic-emulator"
)

// Emulator is the fake IMDS. It implements http.Handler; serve it with httptest.NewServer or
// http.Server.
type Emulator struct {
	cfg    Config
	closed chan struct{}
	once   sync.Once

	mu      sync.Mutex
	pki     *pki.PKI             // current hierarchy; RotateSigner swaps it, never mutates it
	revoked map[string]bool      // staple names (SHA-1 of DER) of revoked certificates
	tokens  map[string]time.Time // token -> expiry on cfg.Now's clock
	blocks  map[string][]block   // user -> pushed blocks, oldest first
	raw     map[string][]byte    // user -> served verbatim instead of blocks
	faults  Faults
	certs   pki.Certs // the staples' certs form: not a fault, so SetFaults leaves it alone
	// served holds the staples already signed, so the same bytes are served until they are
	// renewed, as IMDS does (see stapleDER).
	served map[stapleKey]servedStaple
	counts map[string]int
	// dripTicks, when set by a test, paces Faults.SlowDrip instead of a timer.
	dripTicks <-chan time.Time
}

type block struct {
	expires time.Time
	text    string
}

// New makes an emulator, generating a PKI when cfg has none.
func New(cfg Config) (*Emulator, error) {
	if cfg.InstanceID == "" {
		cfg.InstanceID = DefaultInstanceID
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.Zone == "" {
		cfg.Zone = DefaultZone
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KeyTTL == 0 {
		cfg.KeyTTL = DefaultKeyTTL
	}
	if cfg.KeyTTL < 0 {
		return nil, fmt.Errorf("emulator config: negative KeyTTL %v", cfg.KeyTTL)
	}
	if _, err := cfg.StapleCerts.MarshalText(); err != nil {
		return nil, fmt.Errorf("emulator config: %w", err)
	}
	if cfg.PKI == nil {
		p, err := pki.New(pki.Options{Region: cfg.Region, Domain: cfg.Domain, Now: cfg.Now()})
		if err != nil {
			return nil, fmt.Errorf("emulator config: generate PKI: %w", err)
		}
		cfg.PKI = p
	}
	return &Emulator{
		cfg:     cfg,
		closed:  make(chan struct{}),
		pki:     cfg.PKI,
		certs:   cfg.StapleCerts,
		revoked: map[string]bool{},
		tokens:  map[string]time.Time{},
		blocks:  map[string][]block{},
		raw:     map[string][]byte{},
		counts:  map[string]int{},
	}, nil
}

// PKI returns the hierarchy that signs bundles and staples now. After RotateSigner it is a
// new value (same root and intermediate, new signer); the one passed in Config is never changed.
func (e *Emulator) PKI() *pki.PKI {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pki
}

// InstanceID returns the id the emulator serves (without faults).
func (e *Emulator) InstanceID() string { return e.cfg.InstanceID }

// Region and Zone return the instance's placement (without faults): where the service that
// pushes its keys answers.
func (e *Emulator) Region() string { return e.cfg.Region }

// Zone returns the instance's availability zone (without faults).
func (e *Emulator) Zone() string { return e.cfg.Zone }

// Now reads the emulator's clock (Config.Now).
func (e *Emulator) Now() time.Time { return e.cfg.Now() }

// RootPEM is the test root certificate, for the trust store of the code under test.
func (e *Emulator) RootPEM() []byte { return e.PKI().RootPEM() }

// Close releases requests held by Faults.Hang (they answer 503), cuts Latency short and sends
// the rest of slow-dripped bodies at once. The emulator keeps serving afterwards, without
// those delays; Close is idempotent.
func (e *Emulator) Close() {
	e.once.Do(func() { close(e.closed) })
}

// SetFaults replaces the active faults; the zero Faults is a healthy IMDS.
func (e *Emulator) SetFaults(f Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f.Chain = append([]byte(nil), f.Chain...)
	e.faults = f
}

// Faults returns the active faults.
func (e *Emulator) Faults() Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.faults
	f.Chain = append([]byte(nil), f.Chain...)
	return f
}

// DropTokens forgets every issued token, as a metadata service restart would: clients must
// fetch a new one (their next request answers 401).
func (e *Emulator) DropTokens() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.tokens)
}

// Count returns how many requests arrived for path, e.g. "/latest/meta-data/instance-id" or
// "/latest/api/token". A trailing slash on either side is ignored.
func (e *Emulator) Count(path string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[countKey(path)]
}

// Counts returns a copy of the per-path counters.
func (e *Emulator) Counts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int, len(e.counts))
	for k, v := range e.counts {
		out[k] = v
	}
	return out
}

// Total returns how many requests arrived since the last ResetCounts.
func (e *Emulator) Total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return sum(e.counts)
}

// ResetCounts zeroes every counter.
func (e *Emulator) ResetCounts() { e.TakeCounts() }

// TakeCounts returns the per-path counters and the total, and zeroes them in the same step,
// so no request is lost between reading and resetting.
func (e *Emulator) TakeCounts() (map[string]int, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.counts
	e.counts = map[string]int{}
	return out, sum(out)
}

func sum(counts map[string]int) int {
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}

// countKey normalises a path the way IMDS does when it routes: trailing slashes do not matter.
func countKey(path string) string {
	if k := strings.TrimRight(path, "/"); k != "" {
		return k
	}
	return "/"
}
