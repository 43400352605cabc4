package lookup

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eic-agent/eic-agent/agent/signer"
	"github.com/eic-agent/eic-agent/agent/truststore"
)

// The steps of TrustedSigner, for a caller that keeps state between logins (the warm service):
// the placement is fetched once, the chain and its staples only when they may have changed, and
// VerifySigner makes the same decision TrustedSigner makes on what was fetched.

// Placement is where the instance runs as IMDS reports it. The values are shape-checked by the
// IMDS client; VerifySigner checks them against each other and the domain allow-list.
type Placement struct {
	Region, Zone, Domain string
}

// FetchPlacement fetches the region, the availability zone and the service domain in parallel.
func FetchPlacement(ctx context.Context, cfg Config) (Placement, error) {
	if cfg.IMDS == nil {
		return Placement{}, errors.New("lookup: no IMDS client configured")
	}
	var (
		p    Placement
		errs [3]error
		wg   sync.WaitGroup
	)
	wg.Add(3)
	go func() { defer wg.Done(); p.Region, errs[0] = cfg.IMDS.Region(ctx) }()
	go func() { defer wg.Done(); p.Zone, errs[1] = cfg.IMDS.Zone(ctx) }()
	go func() { defer wg.Done(); p.Domain, errs[2] = cfg.IMDS.Domain(ctx) }()
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return Placement{}, err
	}
	return p, nil
}

// FetchStaples fetches the list of OCSP staples and every staple on it, decoded to DER.
func FetchStaples(ctx context.Context, cfg Config) ([][]byte, error) {
	if cfg.IMDS == nil {
		return nil, errors.New("lookup: no IMDS client configured")
	}
	names, err := cfg.IMDS.StapleNames(ctx)
	if err != nil {
		return nil, err
	}
	return fetchStaples(ctx, cfg.IMDS, names)
}

// VerifySigner decides whether chain and staples, fetched earlier, make a trusted signer for an
// instance at p: the zone must belong to the region, the domain must be allowed, and the chain
// must verify at now against the trust store as it is on disk now (it is loaded on every call,
// so a changed store is never missed).
func VerifySigner(cfg Config, p Placement, chain []byte, staples [][]byte, now time.Time) (*signer.Signer, error) {
	roots, err := loadRoots(cfg)
	if err != nil {
		return nil, err
	}
	return verifySigner(cfg, p, chain, staples, roots, now)
}

func loadRoots(cfg Config) (*x509.CertPool, error) {
	roots, _, err := truststore.Load(cfg.CA)
	if err != nil {
		return nil, fmt.Errorf("trust store: %w", err)
	}
	return roots, nil
}

// verifySigner is the one decision on a signer, whoever fetched what it looks at.
func verifySigner(cfg Config, p Placement, chain []byte, staples [][]byte, roots *x509.CertPool, now time.Time) (*signer.Signer, error) {
	if err := checkPlacement(p.Region, p.Zone); err != nil {
		return nil, err
	}
	if err := checkDomain(p.Domain, cfg.AllowedDomains); err != nil {
		return nil, err
	}
	sg, err := signer.Verify(signer.Input{
		ChainPEM:   chain,
		Staples:    staples,
		Roots:      roots,
		ExpectedCN: signer.ExpectedCN(p.Region, p.Domain),
		Now:        now,
	})
	if err != nil {
		return nil, fmt.Errorf("untrusted signer: %w", err)
	}
	return sg, nil
}
