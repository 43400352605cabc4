package signer

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"golang.org/x/crypto/ocsp"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const wantCN = "managed-ssh-signer.us-east-1.amazonaws.com"

func newPKI(t testing.TB, o pki.Options) *pki.PKI {
	t.Helper()
	if o.Now.IsZero() {
		o.Now = testNow
	}
	p, err := pki.New(o)
	if err != nil {
		t.Fatalf("pki.New: %v", err)
	}
	return p
}

func mkStaple(t testing.TB, p *pki.PKI, c *x509.Certificate, spec pki.StapleSpec) []byte {
	t.Helper()
	der, err := p.Staple(c, spec)
	if err != nil {
		t.Fatalf("staple: %v", err)
	}
	return der
}

func roots(p *pki.PKI) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Root.Cert)
	return pool
}

// goodInput is a valid input for p; cases change one thing.
func goodInput(t testing.TB, p *pki.PKI) Input {
	return Input{
		ChainPEM: p.ChainPEM(false),
		Staples: [][]byte{
			mkStaple(t, p, p.Signer.Cert, pki.StapleSpec{}),
			mkStaple(t, p, p.Intermediate.Cert, pki.StapleSpec{}),
		},
		Roots:      roots(p),
		ExpectedCN: wantCN,
		Now:        testNow,
	}
}

// issueByIntermediate makes a certificate signed by p's intermediate with a fresh ECDSA key.
func issueByIntermediate(t *testing.T, p *pki.PKI, tmpl *x509.Certificate) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.Intermediate.Cert, key.Public(), p.Intermediate.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// responderStaple is a good staple for p's signer, signed by a responder the test builds.
func responderStaple(t *testing.T, p *pki.PKI, eku []x509.ExtKeyUsage, notAfter time.Time) []byte {
	t.Helper()
	cert, key := issueByIntermediate(t, p, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "test responder"},
		NotBefore:   testNow.Add(-2 * time.Hour),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: eku,
	})
	der, err := ocsp.CreateResponse(p.Intermediate.Cert, cert, ocsp.Response{
		Status:       ocsp.Good,
		SerialNumber: p.Signer.Cert.SerialNumber,
		ThisUpdate:   testNow.Add(-time.Hour),
		NextUpdate:   testNow.Add(time.Hour),
		Certificate:  cert,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestVerify(t *testing.T) {
	p := newPKI(t, pki.Options{})
	other := newPKI(t, pki.Options{})
	S, I := p.Signer.Cert, p.Intermediate.Cert
	good := func(c *x509.Certificate) []byte { return mkStaple(t, p, c, pki.StapleSpec{}) }
	withStaples := func(s ...[]byte) func(*Input) { return func(in *Input) { in.Staples = s } }
	withChain := func(b []byte) func(*Input) { return func(in *Input) { in.ChainPEM = b } }
	leafPEM, interPEM := pki.PEM(S), pki.PEM(I)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	tests := []struct {
		name   string
		change func(*Input)
		want   Reason // "" = accepted
	}{
		{"good-chain-accepted", func(*Input) {}, ""},
		{"chain-with-root-accepted", withChain(p.ChainPEM(true)), ""},
		{"delegated-responders-accepted", withStaples(
			mkStaple(t, p, S, pki.StapleSpec{Delegated: true}),
			mkStaple(t, p, I, pki.StapleSpec{Delegated: true})), ""},
		{"staples-any-order-accepted", withStaples(good(I), good(S)), ""},
		{"sha256-certid-accepted", withStaples(
			mkStaple(t, p, I, pki.StapleSpec{IssuerHash: crypto.SHA256}),
			mkStaple(t, p, S, pki.StapleSpec{IssuerHash: crypto.SHA256})), ""},
		{"unrelated-and-unparseable-staples-ignored", withStaples(
			[]byte("garbage"), mkStaple(t, other, other.Signer.Cert, pki.StapleSpec{}), good(S), good(I)), ""},
		{"stale-staple-ignored-next-to-good-one", withStaples(
			mkStaple(t, p, S, pki.StapleSpec{NextUpdate: testNow.Add(-time.Hour), ThisUpdate: testNow.Add(-2 * time.Hour)}),
			good(S), good(I)), ""},
		{"clock-skew-within-5m-accepted", withStaples(
			mkStaple(t, p, S, pki.StapleSpec{ThisUpdate: testNow.Add(4 * time.Minute), NextUpdate: testNow.Add(time.Hour)}),
			mkStaple(t, p, I, pki.StapleSpec{ThisUpdate: testNow.Add(-time.Hour), NextUpdate: testNow.Add(-4 * time.Minute)})), ""},
		{"chain-with-crlf-and-blank-lines-accepted", withChain(
			[]byte("\r\n\n" + strings.ReplaceAll(string(p.ChainPEM(false)), "\n", "\r\n") + "\n\n")), ""},

		{"other-region-rejected", func(in *Input) { in.ExpectedCN = ExpectedCN("eu-west-1", "amazonaws.com") }, ReasonWrongName},
		{"other-domain-rejected", func(in *Input) { in.ExpectedCN = ExpectedCN("us-east-1", "amazonaws.com.cn") }, ReasonWrongName},
		{"intermediate-first-rejected", withChain(cat(interPEM, leafPEM)), ReasonWrongName},
		{"unknown-root-rejected", func(in *Input) { in.Roots = roots(other) }, ReasonUntrusted},
		{"served-root-is-not-an-anchor", func(in *Input) { in.Roots = x509.NewCertPool(); in.ChainPEM = p.ChainPEM(true) }, ReasonUntrusted},
		{"missing-intermediate-rejected", withChain(leafPEM), ReasonUntrusted},
		{"signer-revoked-rejected", withStaples(mkStaple(t, p, S, pki.StapleSpec{Status: pki.Revoked}), good(I)), ReasonRevoked},
		{"intermediate-revoked-rejected", withStaples(good(S), mkStaple(t, p, I, pki.StapleSpec{Status: pki.Revoked})), ReasonRevoked},
		{"revoked-wins-over-good", withStaples(good(S), mkStaple(t, p, S, pki.StapleSpec{Status: pki.Revoked}), good(I)), ReasonRevoked},
		{"status-unknown-rejected", withStaples(mkStaple(t, p, S, pki.StapleSpec{Status: pki.Unknown}), good(I)), ReasonUnknown},
		{"signer-staple-missing-rejected", withStaples(good(I)), ReasonStapleMissing},
		{"intermediate-staple-missing-rejected", withStaples(good(S)), ReasonStapleMissing},
		{"no-staples-rejected", withStaples(), ReasonStapleMissing},
		{"staple-for-other-serial-rejected", withStaples(
			mkStaple(t, p, S, pki.StapleSpec{Serial: big.NewInt(4242)}), good(I)), ReasonStapleMissing},
		{"staple-from-other-issuer-rejected", withStaples(
			mkStaple(t, other, other.Signer.Cert, pki.StapleSpec{Serial: S.SerialNumber}), good(I)), ReasonStapleMissing},
		{"garbage-staples-rejected", withStaples([]byte("garbage"), []byte{0x30, 0x03, 1, 2, 3}), ReasonStapleMissing},
		{"stale-staple-rejected", withStaples(
			mkStaple(t, p, S, pki.StapleSpec{ThisUpdate: testNow.Add(-2 * time.Hour), NextUpdate: testNow.Add(-6 * time.Minute)}), good(I)), ReasonStale},
		{"not-yet-valid-staple-rejected", withStaples(
			mkStaple(t, p, S, pki.StapleSpec{ThisUpdate: testNow.Add(6 * time.Minute)}), good(I)), ReasonNotYetValid},
		{"unrelated-signature-rejected", withStaples(mkStaple(t, p, S, pki.StapleSpec{Unrelated: true}), good(I)), ReasonBadSignature},
		{"intermediate-staple-signed-by-intermediate-rejected", withStaples(good(S), func() []byte {
			// The intermediate's own key is not its issuer's: a staple it signs about itself is forged.
			der, err := ocsp.CreateResponse(p.Root.Cert, I, ocsp.Response{Status: ocsp.Good, SerialNumber: I.SerialNumber,
				ThisUpdate: testNow.Add(-time.Hour), NextUpdate: testNow.Add(time.Hour)}, p.Intermediate.Key)
			if err != nil {
				t.Fatal(err)
			}
			return der
		}()), ReasonBadSignature},
		{"corrupted-signature-rejected", withStaples(func() []byte {
			der := bytes.Clone(good(S))
			der[len(der)-1] ^= 0xff // no embedded certificate: the signature ends the response
			return der
		}(), good(I)), ReasonBadSignature},
		{"responder-without-ocsp-eku-rejected", withStaples(
			responderStaple(t, p, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, testNow.Add(time.Hour)), good(I)), ReasonBadSignature},
		{"expired-responder-rejected", withStaples(
			responderStaple(t, p, []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}, testNow.Add(-time.Minute)), good(I)), ReasonBadSignature},
		{"junk-before-chain-rejected", withChain(cat([]byte("hello\n"), p.ChainPEM(false))), ReasonBadChain},
		{"junk-between-certs-rejected", withChain(cat(leafPEM, []byte("x\n"), interPEM)), ReasonBadChain},
		{"junk-after-chain-rejected", withChain(cat(p.ChainPEM(false), []byte("-----"))), ReasonBadChain},
		{"private-key-block-rejected", withChain(cat(leafPEM, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))), ReasonBadChain},
		{"pem-headers-rejected", withChain([]byte(strings.Replace(string(p.ChainPEM(false)), "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1))), ReasonBadChain},
		{"truncated-pem-rejected", withChain(p.ChainPEM(false)[:len(p.ChainPEM(false))-30]), ReasonBadChain},
		{"empty-chain-rejected", withChain([]byte(" \n")), ReasonBadChain},
		{"nine-certs-rejected", withChain(cat(leafPEM, bytes.Repeat(interPEM, 8))), ReasonBadChain},
		{"signer-trusted-directly-needs-no-staple", func(in *Input) {
			in.Roots, in.ChainPEM, in.Staples = x509.NewCertPool(), leafPEM, nil
			in.Roots.AddCert(S)
		}, ""},
		{"nil-roots-rejected", func(in *Input) { in.Roots = nil }, ReasonBadInput},
		{"zero-time-rejected", func(in *Input) { in.Now = time.Time{} }, ReasonBadInput},
		{"too-many-staples-rejected", func(in *Input) {
			for len(in.Staples) <= MaxStaples {
				in.Staples = append(in.Staples, in.Staples[0])
			}
		}, ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := goodInput(t, p)
			tc.change(&in)
			s, err := Verify(in)
			t.Log(err)
			checkResult(t, s, err, tc.want)
			if err == nil && len(s.Chain) > 1 {
				checkSigner(t, p, s)
			}
		})
	}
}

// TestVerifyOtherPKIs covers cases that need a differently built hierarchy.
func TestVerifyOtherPKIs(t *testing.T) {
	tests := []struct {
		name string
		opts pki.Options
		want Reason
	}{
		{"signer-of-other-region-rejected", pki.Options{Region: "eu-west-1"}, ReasonWrongName},
		{"signer-of-other-domain-rejected", pki.Options{Domain: "amazonaws.com.cn"}, ReasonWrongName},
		{"name-with-suffix-rejected", pki.Options{SignerCN: wantCN + ".attacker.example"}, ReasonWrongName},
		{"expired-signer-rejected", pki.Options{SignerNotAfter: testNow.Add(-time.Minute)}, ReasonUntrusted},
		{"future-signer-rejected", pki.Options{SignerNotBefore: testNow.Add(time.Hour)}, ReasonUntrusted},
		{"short-rsa-key-rejected", pki.Options{SignerBits: 1024}, ReasonWeakKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t, tc.opts)
			s, err := Verify(goodInput(t, p))
			checkResult(t, s, err, tc.want)
		})
	}
}

func TestVerifyNonRSALeafRejected(t *testing.T) {
	p := newPKI(t, pki.Options{})
	leaf, _ := issueByIntermediate(t, p, &x509.Certificate{
		Subject:   pkix.Name{CommonName: wantCN},
		NotBefore: testNow.Add(-time.Hour),
		NotAfter:  testNow.Add(time.Hour),
		KeyUsage:  x509.KeyUsageDigitalSignature,
	})
	in := goodInput(t, p)
	in.ChainPEM = pki.PEM(leaf, p.Intermediate.Cert)
	s, err := Verify(in)
	checkResult(t, s, err, ReasonNotRSA)
}

func TestErrorMessage(t *testing.T) {
	p := newPKI(t, pki.Options{})
	in := goodInput(t, p)
	in.Staples = [][]byte{[]byte("junk"), in.Staples[1]}
	_, err := Verify(in)
	msg := err.Error()
	for _, want := range []string{string(ReasonStapleMissing), wantCN, "1 could not be parsed", "retry later"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q spans several lines", msg)
	}
}

func checkResult(t *testing.T, s *Signer, err error, want Reason) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("Verify: got error %v, want accepted", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Verify: got (%v, %v), want *Error with reason %s", s, err, want)
	}
	if e.Reason != want {
		t.Errorf("Verify: got reason %s (%v), want %s", e.Reason, err, want)
	}
	if s != nil {
		t.Errorf("Verify: got a signer along with error %v", err)
	}
}

func checkSigner(t *testing.T, p *pki.PKI, s *Signer) {
	t.Helper()
	if !s.Key.Equal(p.SignerKey().Public()) {
		t.Errorf("Key is not the signer's key")
	}
	if len(s.Chain) != 3 || !s.Chain[0].Equal(p.Signer.Cert) || !s.Chain[2].Equal(p.Root.Cert) {
		t.Errorf("Chain: got %d certificates, want signer, intermediate, root", len(s.Chain))
	}
	if s.NextUpdate.IsZero() || s.NextUpdate.Before(testNow.Add(-ClockSkew)) {
		t.Errorf("NextUpdate: got %v, want set and not before now", s.NextUpdate)
	}
	wantNA := p.Intermediate.Cert.NotAfter // the signer's NotAfter is the same, the root's later
	if !s.NotAfter.Equal(wantNA) {
		t.Errorf("NotAfter: got %v, want %v", s.NotAfter, wantNA)
	}
}

func TestNextUpdateIsEarliest(t *testing.T) {
	p := newPKI(t, pki.Options{})
	in := goodInput(t, p)
	early := testNow.Add(30 * time.Minute).Truncate(time.Second)
	in.Staples = [][]byte{
		mkStaple(t, p, p.Signer.Cert, pki.StapleSpec{NextUpdate: testNow.Add(48 * time.Hour)}),
		mkStaple(t, p, p.Intermediate.Cert, pki.StapleSpec{NextUpdate: early}),
	}
	s, err := Verify(in)
	if err != nil {
		t.Fatal(err)
	}
	if !s.NextUpdate.Equal(early) {
		t.Errorf("NextUpdate: got %v, want %v", s.NextUpdate, early)
	}
	// Each certificate's own staple, in chain order (signer, then intermediate).
	late := testNow.Add(48 * time.Hour).Truncate(time.Second)
	if len(s.StapleUpdates) != 2 || !s.StapleUpdates[0].Equal(late) || !s.StapleUpdates[1].Equal(early) {
		t.Errorf("StapleUpdates: got %v, want [%v %v]", s.StapleUpdates, late, early)
	}
}

func TestExpectedCN(t *testing.T) {
	if got, want := ExpectedCN("us-west-2", "amazonaws.com"), "managed-ssh-signer.us-west-2.amazonaws.com"; got != want {
		t.Errorf("ExpectedCN: got %q, want %q", got, want)
	}
}
