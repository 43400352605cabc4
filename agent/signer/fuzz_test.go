package signer

import (
	"errors"
	"strings"
	"testing"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"golang.org/x/crypto/ocsp"
)

// FuzzVerify feeds arbitrary chain and staple bytes to Verify. It must never panic, every error
// must be an *Error on one line, and a nil error is only allowed for a chain that verifies to the
// test root with the expected name.
func FuzzVerify(f *testing.F) {
	p := newPKI(f, pki.Options{})
	in := goodInput(f, p)
	b64, err := p.StapleBase64(p.Signer.Cert, pki.StapleSpec{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(in.ChainPEM, in.Staples[0], in.Staples[1])
	f.Add(p.ChainPEM(true), in.Staples[1], in.Staples[0])
	f.Add(p.ChainPEM(true), b64, in.Staples[1])
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n"), []byte{0x30, 0x80}, []byte{})
	f.Fuzz(func(t *testing.T, chain, s1, s2 []byte) {
		staples := [][]byte{s1, s2}
		for _, s := range [][]byte{s1, s2} {
			if der, err := DecodeStaple(s); err == nil {
				staples = append(staples, der)
			}
		}
		s, err := Verify(Input{ChainPEM: chain, Staples: staples, Roots: in.Roots, ExpectedCN: wantCN, Now: testNow})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || s != nil {
				t.Fatalf("Verify: got (%v, %T %v), want nil and *Error", s, err, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		if len(s.Chain) < 2 || !s.Chain[len(s.Chain)-1].Equal(p.Root.Cert) {
			t.Fatalf("accepted a chain that does not end in the test root")
		}
		if s.Chain[0].Subject.CommonName != wantCN || !s.Key.Equal(s.Chain[0].PublicKey) {
			t.Fatalf("accepted signer %q, want %q with its own key", s.Chain[0].Subject.CommonName, wantCN)
		}
		for i := 0; i+1 < len(s.Chain); i++ {
			if err := s.Chain[i].CheckSignatureFrom(s.Chain[i+1]); err != nil {
				t.Fatalf("accepted chain link %d: %v", i, err)
			}
		}
	})
}

// FuzzCheckStaple feeds arbitrary responses to CheckStaple. It must never panic, every error must
// be an *Error on one line, and an accepted staple must carry a signature that the issuer's key,
// or the key of a certificate the issuer signed, verifies.
func FuzzCheckStaple(f *testing.F) {
	p := newPKI(f, pki.Options{})
	S, I := p.Signer.Cert, p.Intermediate.Cert
	for _, spec := range []pki.StapleSpec{{}, {Certs: pki.CertsIssuer}, {Certs: pki.CertsIssuerChain},
		{Certs: pki.CertsJunk}, {Delegated: true}, {Unrelated: true}, {Status: pki.Revoked}} {
		f.Add(mkStaple(f, p, S, spec))
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		_, err := CheckStaple(der, S, I, testNow)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("CheckStaple: got %T %q, want a one-line *Error", err, err)
			}
			return
		}
		s, perr := parseStaple(der)
		if perr != nil {
			t.Fatalf("accepted a staple that does not parse: %v", perr)
		}
		resp, perr := ocsp.ParseResponseForCert(s.der, S, I)
		if perr == nil && resp.Status == ocsp.Good {
			return
		}
		for _, c := range s.certs {
			if c.CheckSignatureFrom(I) != nil {
				continue
			}
			if resp, perr := ocsp.ParseResponseForCert(s.der, S, nil); perr == nil && resp.CheckSignatureFrom(c) == nil {
				return
			}
		}
		t.Fatalf("accepted a staple that neither the issuer nor a certificate it signed has signed")
	})
}
