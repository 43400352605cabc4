package emulator

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
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

// garbageStaple parses as base64 but not as an OCSP response: a DER SEQUENCE header that
// promises more bytes than follow.
var garbageStaple = []byte("\x30\x82\x01\x00this is not an OCSP response")

type stapled struct {
	name  string
	cert  *x509.Certificate
	fault StapleFault
}

// stapled lists the chain certificates that have a staple under f.
func (e *Emulator) stapled(f Faults) []stapled {
	p := e.cfg.PKI
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

func (e *Emulator) stapleList(f Faults) []byte {
	var names []string
	for _, s := range e.stapled(f) {
		names = append(names, s.name)
	}
	return []byte(strings.Join(names, "\n"))
}

// staple computes the named staple now, so its times follow the emulator's clock.
func (e *Emulator) staple(name string, f Faults) ([]byte, int) {
	for _, s := range e.stapled(f) {
		if s.name != name {
			continue
		}
		der, err := e.stapleDER(s.cert, s.fault)
		if err != nil {
			return nil, http.StatusInternalServerError
		}
		return []byte(base64.StdEncoding.EncodeToString(der)), http.StatusOK
	}
	return nil, http.StatusNotFound
}

func (e *Emulator) stapleDER(cert *x509.Certificate, fault StapleFault) ([]byte, error) {
	now := e.cfg.Now()
	spec := pki.StapleSpec{ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(7 * 24 * time.Hour)}
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
	return e.cfg.PKI.Staple(cert, spec)
}

// StapleDER returns the DER staple the emulator would serve now for cert under fault, for
// tests that feed staples to a verifier directly. StapleMissing is an error.
func (e *Emulator) StapleDER(cert *x509.Certificate, fault StapleFault) ([]byte, error) {
	return e.stapleDER(cert, fault)
}
