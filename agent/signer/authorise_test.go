package signer

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"golang.org/x/crypto/ocsp"
)

// TestStapleForms: what a staple's certs field holds never decides who signed it. Every form a
// real responder or OpenSSL writes is accepted when the issuer (or its delegate) signed it.
func TestStapleForms(t *testing.T) {
	p := newPKI(t, pki.Options{})
	S, I := p.Signer.Cert, p.Intermediate.Cert
	for _, form := range []pki.Certs{pki.CertsDefault, pki.CertsNone, pki.CertsIssuer, pki.CertsIssuerChain, pki.CertsJunk} {
		for _, delegated := range []bool{false, true} {
			if delegated && form != pki.CertsDefault {
				continue // a delegated responder must itself be in certs: see TestStapleAuthorisation
			}
			name := form.String()
			if delegated {
				name = "delegated"
			}
			t.Run(name, func(t *testing.T) {
				spec := pki.StapleSpec{Certs: form, Delegated: delegated}
				in := goodInput(t, p)
				in.Staples = [][]byte{mkStaple(t, p, S, spec), mkStaple(t, p, I, spec)}
				if _, err := Verify(in); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				for _, c := range []struct{ cert, issuer *x509.Certificate }{{S, I}, {I, p.Root.Cert}} {
					if _, err := CheckStaple(mkStaple(t, p, c.cert, spec), c.cert, c.issuer, testNow); err != nil {
						t.Errorf("CheckStaple(%s): %v", c.cert.Subject.CommonName, err)
					}
				}
			})
		}
	}
}

// TestStapleAuthorisation is what a forger with a key of their own would try: put something in
// certs that looks like the issuer or a responder, or name someone else as the responder.
func TestStapleAuthorisation(t *testing.T) {
	p := newPKI(t, pki.Options{})
	S, I := p.Signer.Cert, p.Intermediate.Cert
	inter := &node{cert: I, key: p.Intermediate.Key}
	root := &node{cert: p.Root.Cert, key: p.Root.Key}
	tmplFor := func(c *x509.Certificate) ocsp.Response {
		return ocsp.Response{Status: ocsp.Good, SerialNumber: c.SerialNumber,
			ThisUpdate: testNow.Add(-time.Hour), NextUpdate: testNow.Add(time.Hour)}
	}
	// sign makes a staple about S: the CertID names I, the ResponderID names responder, the key
	// signs and certs carries embed (the response's certs field holds embed only).
	sign := func(responder *x509.Certificate, key *node, embed *x509.Certificate) []byte {
		tmpl := tmplFor(S)
		tmpl.Certificate = embed
		der, err := ocsp.CreateResponse(I, responder, tmpl, key.key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	responder := func(parent *node, eku []x509.ExtKeyUsage, nb, na time.Time) *node {
		k := ecKey(t)
		return &node{cert: mkCert(t, parent, &x509.Certificate{
			Subject: pkix.Name{CommonName: "Test Responder"}, NotBefore: nb, NotAfter: na,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku,
		}, k.Public(), nil), key: k}
	}
	ocspEKU := []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	valid := func(parent *node) *node {
		return responder(parent, ocspEKU, testNow.Add(-time.Hour), testNow.Add(2*time.Hour))
	}
	rogue := func() *node {
		k := ecKey(t)
		return &node{cert: mkCert(t, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "Rogue"},
			ExtKeyUsage: ocspEKU}, k.Public(), k), key: k}
	}()
	// twin carries the intermediate's exact subject but the forger's key.
	twinKey := ecKey(t)
	twin := &node{cert: mkCert(t, nil, &x509.Certificate{Subject: I.Subject, RawSubject: I.RawSubject,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, twinKey.Public(), twinKey), key: twinKey}
	delegate := valid(inter)

	tests := []struct {
		name   string
		staple []byte
		want   Reason
	}{
		{"issuer-signed-accepted", sign(I, inter, nil), ""},
		{"issuer-signed-with-issuer-in-certs-accepted", sign(I, inter, I), ""},
		{"issuer-signed-with-rogue-in-certs-accepted", sign(I, inter, rogue.cert), ""},
		{"delegate-in-certs-accepted", sign(delegate.cert, delegate, delegate.cert), ""},
		{"delegate-not-in-certs-rejected", sign(delegate.cert, delegate, nil), ReasonBadSignature},
		{"delegate-of-root-rejected", func() []byte { r := valid(root); return sign(r.cert, r, r.cert) }(), ReasonBadSignature},
		{"delegate-without-ocsp-eku-rejected", func() []byte {
			r := responder(inter, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, testNow.Add(-time.Hour), testNow.Add(time.Hour))
			return sign(r.cert, r, r.cert)
		}(), ReasonBadSignature},
		{"delegate-expired-rejected", func() []byte {
			r := responder(inter, ocspEKU, testNow.Add(-2*time.Hour), testNow.Add(-time.Second))
			return sign(r.cert, r, r.cert)
		}(), ReasonBadSignature},
		{"delegate-not-yet-valid-rejected", func() []byte {
			r := responder(inter, ocspEKU, testNow.Add(time.Minute), testNow.Add(time.Hour))
			return sign(r.cert, r, r.cert)
		}(), ReasonBadSignature},
		{"delegate-of-delegate-rejected", func() []byte { r := valid(delegate); return sign(r.cert, r, r.cert) }(), ReasonBadSignature},
		{"self-signed-responder-rejected", sign(rogue.cert, rogue, rogue.cert), ReasonBadSignature},
		{"issuer-twin-in-certs-rejected", sign(twin.cert, twin, twin.cert), ReasonBadSignature},
		{"issuer-named-but-rogue-signed-rejected", sign(I, rogue, rogue.cert), ReasonBadSignature},
		{"issuer-signed-naming-someone-else-rejected", sign(rogue.cert, inter, nil), ReasonBadSignature},
		{"issuer-signed-naming-delegate-rejected", sign(delegate.cert, inter, delegate.cert), ReasonBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckStaple(tc.staple, S, I, testNow)
			checkResult(t, nil, err, tc.want)
			in := goodInput(t, p)
			in.Staples = [][]byte{tc.staple, mkStaple(t, p, I, pki.StapleSpec{})}
			_, err = Verify(in)
			checkResult(t, nil, err, tc.want)
		})
	}
}

// TestResponderBoundsSigner: a staple vouches for the signer only while its delegated responder
// is valid, so the verified signer may not be used past the responder's NotAfter.
func TestResponderBoundsSigner(t *testing.T) {
	p := newPKI(t, pki.Options{})
	na := testNow.Add(90 * time.Minute)
	in := goodInput(t, p)
	in.Staples[0] = responderStaple(t, p, []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}, na)
	sg, err := Verify(in)
	if err != nil {
		t.Fatal(err)
	}
	if !sg.NotAfter.Equal(na) {
		t.Errorf("NotAfter = %v, want the responder's %v", sg.NotAfter, na)
	}
	res, err := CheckStaple(in.Staples[0], p.Signer.Cert, p.Intermediate.Cert, testNow)
	if err != nil || !res.ResponderNotAfter.Equal(na) {
		t.Errorf("CheckStaple = %+v, %v; want ResponderNotAfter %v", res, err, na)
	}
	// Issuer-signed staples leave NotAfter to the chain.
	sg, err = Verify(goodInput(t, p))
	if err != nil || !sg.NotAfter.Equal(p.Signer.Cert.NotAfter) {
		t.Errorf("issuer-signed: NotAfter = %v, %v; want the signer's %v", sg.NotAfter, err, p.Signer.Cert.NotAfter)
	}
}
