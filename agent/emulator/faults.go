package emulator

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

// Faults break the emulator on purpose. The zero value is a healthy IMDS.
type Faults struct {
	// NoTokens puts IMDS in IMDSv1-only mode: the token PUT answers 403 and requests without a
	// token are served. Our client must refuse to fall back.
	NoTokens bool
	// Status answers every request except the token PUT with this HTTP status.
	Status int
	// Hang never answers, until the client goes away or Close is called (then 503). It applies
	// to every request, the token PUT included.
	Hang bool
	// Latency delays every answer, the token PUT included.
	Latency time.Duration
	// Oversize makes every successful metadata body OversizeBytes long (over 1 MiB).
	Oversize bool
	// Region, Zone and Domain replace the served values when set.
	Region, Zone, Domain string
	// ChainIncludesRoot appends the root to signer-cert.
	ChainIncludesRoot bool
	// Chain replaces the signer-cert document entirely.
	Chain []byte
	// SignerStaple and IntermediateStaple choose what the staple of each chain cert looks like.
	SignerStaple, IntermediateStaple StapleFault
	// StapleNames256 names staples by SHA-256 instead of SHA-1, as IMDS once did (upstream #26).
	StapleNames256 bool
	// RevokeTokens answers 401 to every token while set, including tokens issued meanwhile.
	RevokeTokens bool
	// Reset drops the connection without answering (with a TCP RST where the connection
	// allows it), for every request, the token PUT included, after Latency.
	Reset bool
	// SlowDrip sends every body one byte per interval, flushing each byte, after the headers
	// went out at once: a client must bound the whole exchange, not only the wait for headers.
	SlowDrip time.Duration
	// Throttle answers 429 Too Many Requests to every request except the token PUT, as IMDS
	// does to an instance over its request rate.
	Throttle bool
	// ThrottlePush makes the control API's SendSSHPublicKey (the AWS route) answer
	// ThrottlingException to every authenticated request, as the service does to a caller
	// over its rate. IMDS and the emulator's own push are not affected.
	ThrottlePush bool
}

// StapleFault chooses the OCSP staple served for one chain certificate. Times are relative
// to the emulator's clock at request time.
type StapleFault int

// Staple faults.
const (
	StapleGood        StapleFault = iota // good, thisUpdate now-1h, nextUpdate now+7d, signed by the issuer
	StapleRevoked                        // revoked, otherwise like good
	StapleMissing                        // not listed, and its name answers 404
	StapleStale                          // nextUpdate now-1h
	StapleNotYetValid                    // thisUpdate now+1h
	StapleOtherSerial                    // speaks for another serial of the same issuer
	StapleUnrelated                      // signed by a key unrelated to the chain
	StapleGarbage                        // base64 of bytes that are not an OCSP response
	StapleDelegated                      // good, signed by the issuer's delegated OCSP responder
)

var stapleFaultNames = [...]string{"good", "revoked", "missing", "stale", "not-yet-valid",
	"other-serial", "unrelated", "garbage", "delegated"}

func (f StapleFault) String() string {
	if f >= 0 && int(f) < len(stapleFaultNames) {
		return stapleFaultNames[f]
	}
	return "StapleFault(" + strconv.Itoa(int(f)) + ")"
}

// StapleFaultNames lists the names ParseStapleFault accepts, in the order of the constants
// (aliases excluded).
func StapleFaultNames() []string { return stapleFaultNames[:] }

// ParseStapleFault returns the fault called name (see String). "forged" is another name for
// StapleUnrelated: a staple signed by a key outside the chain is what a forger can make.
func ParseStapleFault(name string) (StapleFault, error) {
	if name == "forged" {
		return StapleUnrelated, nil
	}
	for i, n := range stapleFaultNames {
		if n == name {
			return StapleFault(i), nil
		}
	}
	return 0, fmt.Errorf("unknown staple fault %q (want one of %s, or forged)", name,
		strings.Join(stapleFaultNames[:], ", "))
}

// MarshalText writes the fault's name, so JSON and flags carry names rather than numbers.
func (f StapleFault) MarshalText() ([]byte, error) {
	if f < 0 || int(f) >= len(stapleFaultNames) {
		return nil, fmt.Errorf("marshal %v: no such staple fault", f)
	}
	return []byte(f.String()), nil
}

// UnmarshalText is ParseStapleFault.
func (f *StapleFault) UnmarshalText(b []byte) error {
	v, err := ParseStapleFault(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// garbageStaple parses as base64 but not as an OCSP response: a DER SEQUENCE header that
// promises more bytes than follow.
var garbageStaple = []byte("\x30\x82\x01\x00this is not an OCSP response")

type stapled struct {
	name  string
	cert  *x509.Certificate
	fault StapleFault
}

// stapledCerts lists the chain certificates of p that have a staple under f.
func stapledCerts(p *pki.PKI, f Faults) []stapled {
	var out []stapled
	for _, s := range []stapled{
		{cert: p.Signer.Cert, fault: f.SignerStaple},
		{cert: p.Intermediate.Cert, fault: f.IntermediateStaple},
	} {
		if s.fault == StapleMissing {
			continue
		}
		s.name = pki.StapleName(s.cert)
		if f.StapleNames256 {
			s.name = pki.StapleName256(s.cert)
		}
		out = append(out, s)
	}
	return out
}

func stapleList(p *pki.PKI, f Faults) []byte {
	var names []string
	for _, s := range stapledCerts(p, f) {
		names = append(names, s.name)
	}
	return []byte(strings.Join(names, "\n"))
}

// staple computes the named staple now, so its times follow the emulator's clock.
func (e *Emulator) staple(p *pki.PKI, name string, f Faults) ([]byte, int) {
	for _, s := range stapledCerts(p, f) {
		if s.name != name {
			continue
		}
		der, err := e.stapleDER(p, s.cert, s.fault)
		if err != nil {
			return nil, http.StatusInternalServerError
		}
		return []byte(base64.StdEncoding.EncodeToString(der)), http.StatusOK
	}
	return nil, http.StatusNotFound
}

// stapleKey is everything a served staple depends on besides the clock.
type stapleKey struct {
	cert    [32]byte // SHA-256 of the certificate's DER
	fault   StapleFault
	revoked bool
	certs   pki.Certs
}

type servedStaple struct {
	der    []byte
	signed time.Time
}

// stapleRenewal is how long a signed staple is served before the emulator signs a new one. IMDS
// serves the same response until AWS renews it; a verifier that compares staples (the warm
// service's revocation check) must see the same bytes between renewals, not a new signature on
// every request.
const stapleRenewal = 24 * time.Hour

// maxServedStaples bounds the staple memory; past it everything is signed afresh.
const maxServedStaples = 64

// stapleDER returns the staple served now for cert under fault: the one signed earlier while it
// is younger than stapleRenewal and nothing it depends on has changed (revocation, rotation,
// fault, certs form), else a newly signed one. Faults whose point is the time (stale, not yet
// valid) are signed afresh each time, so they keep following the clock.
func (e *Emulator) stapleDER(p *pki.PKI, cert *x509.Certificate, fault StapleFault) ([]byte, error) {
	now := e.cfg.Now()
	key := stapleKey{cert: sha256.Sum256(cert.Raw), fault: fault, revoked: e.isRevoked(cert), certs: e.StapleCerts()}
	timed := fault == StapleStale || fault == StapleNotYetValid
	e.mu.Lock()
	old, ok := e.served[key]
	e.mu.Unlock()
	if ok && !timed && !now.Before(old.signed) && now.Sub(old.signed) < stapleRenewal {
		return old.der, nil
	}
	der, err := e.signStaple(p, cert, fault, key, now)
	if err != nil || timed {
		return der, err
	}
	e.mu.Lock()
	if e.served == nil || len(e.served) >= maxServedStaples {
		e.served = map[stapleKey]servedStaple{}
	}
	e.served[key] = servedStaple{der: der, signed: now}
	e.mu.Unlock()
	return der, nil
}

// RenewStaples makes the emulator sign new staples at the next request, as when AWS renews the
// OCSP responses IMDS serves: same status, new bytes.
func (e *Emulator) RenewStaples() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.served)
}

func (e *Emulator) signStaple(p *pki.PKI, cert *x509.Certificate, fault StapleFault, key stapleKey, now time.Time) ([]byte, error) {
	spec := pki.StapleSpec{ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(7 * 24 * time.Hour)}
	if key.revoked {
		spec.Status = pki.Revoked
	}
	switch fault {
	case StapleRevoked:
		spec.Status = pki.Revoked
	case StapleStale:
		spec.NextUpdate = now.Add(-time.Hour)
		spec.ThisUpdate = spec.NextUpdate.Add(-7 * 24 * time.Hour)
	case StapleNotYetValid:
		spec.ThisUpdate = now.Add(time.Hour)
	case StapleOtherSerial:
		spec.Serial = new(big.Int).Add(cert.SerialNumber, big.NewInt(1))
	case StapleUnrelated:
		spec.Unrelated = true
	case StapleGarbage:
		return garbageStaple, nil
	case StapleMissing:
		return nil, errors.New("staple: a missing staple has no body")
	case StapleDelegated:
		spec.Delegated = true
	}
	spec.Certs = key.certs
	return p.Staple(cert, spec)
}

// SetStapleCerts chooses what the certs field of every staple served from now on carries, for
// the signer's and the intermediate's alike, combined with their staple faults (delegated +
// issuer-chain carries the responder, the issuer and the root). Every form is a correct
// staple, so it is a setting rather than a fault: SetFaults does not change it. An unknown
// form is an error and changes nothing.
func (e *Emulator) SetStapleCerts(c pki.Certs) error {
	if _, err := c.MarshalText(); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.certs = c
	return nil
}

// StapleCerts returns the certs form of the staples served now.
func (e *Emulator) StapleCerts() pki.Certs {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.certs
}

// StapleDER returns the DER staple the emulator would serve now for cert under fault, for
// tests that feed staples to a verifier directly. StapleMissing is an error, and so is a
// certificate of a signer that RotateSigner replaced.
func (e *Emulator) StapleDER(cert *x509.Certificate, fault StapleFault) ([]byte, error) {
	return e.stapleDER(e.PKI(), cert, fault)
}
