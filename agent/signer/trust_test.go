package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"golang.org/x/crypto/ocsp"
)

// node is a certificate of a hand-built hierarchy and its key.
type node struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serialSeq = big.NewInt(1000)

// mkCert issues tmpl for pub under parent (self-signed when parent is nil, then key signs).
func mkCert(t *testing.T, parent *node, tmpl *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	serialSeq = new(big.Int).Add(serialSeq, big.NewInt(1))
	tmpl.SerialNumber = serialSeq
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = testNow.Add(-24*time.Hour), testNow.Add(365*24*time.Hour)
	}
	issuerCert, issuerKey := tmpl, key
	if parent != nil {
		issuerCert, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, pub, issuerKey)
	if err != nil {
		t.Fatalf("issue %q: %v", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mkCA makes a CA under parent (a root when parent is nil); change adjusts its template.
func mkCA(t *testing.T, parent *node, cn string, change func(*x509.Certificate)) *node {
	t.Helper()
	k := ecKey(t)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	if change != nil {
		change(tmpl)
	}
	return &node{cert: mkCert(t, parent, tmpl, k.Public(), k), key: k}
}

// goodStaple is a good staple for c signed by its issuer, with nothing in certs.
func goodStaple(t *testing.T, c *x509.Certificate, issuer *node) []byte {
	t.Helper()
	der, err := ocsp.CreateResponse(issuer.cert, issuer.cert, ocsp.Response{
		Status: ocsp.Good, SerialNumber: c.SerialNumber,
		ThisUpdate: testNow.Add(-time.Hour), NextUpdate: testNow.Add(24 * time.Hour),
	}, issuer.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// chainInput builds the Input for leaf issued through cas (nearest first), the last of which is
// the trusted root, with good staples for every certificate below the root.
func chainInput(t *testing.T, leaf *x509.Certificate, cas ...*node) Input {
	t.Helper()
	in := Input{ChainPEM: pki.PEM(leaf), Roots: x509.NewCertPool(), ExpectedCN: wantCN, Now: testNow}
	in.Roots.AddCert(cas[len(cas)-1].cert)
	below := leaf
	for _, ca := range cas {
		in.Staples = append(in.Staples, goodStaple(t, below, ca))
		if ca != cas[len(cas)-1] {
			in.ChainPEM = append(in.ChainPEM, pki.PEM(ca.cert)...)
		}
		below = ca.cert
	}
	return in
}

// TestNameConstraintsAndUsage is what a CA constrained away from the signer's name, or limited
// to other uses, would try: mint managed-ssh-signer.us-east-1.amazonaws.com anyway.
func TestNameConstraintsAndUsage(t *testing.T) {
	p := newPKI(t, pki.Options{})
	pub := p.SignerKey().Public()
	leaf := func(ca *node, change func(*x509.Certificate)) *x509.Certificate {
		tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: wantCN}, KeyUsage: x509.KeyUsageDigitalSignature}
		if change != nil {
			change(tmpl)
		}
		return mkCert(t, ca, tmpl, pub, nil)
	}
	withSAN := func(names ...string) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.DNSNames = names }
	}
	permit := func(d ...string) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.PermittedDNSDomains = d }
	}
	exclude := func(d ...string) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.ExcludedDNSDomains = d }
	}
	usage := func(u ...x509.ExtKeyUsage) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.ExtKeyUsage = u }
	}

	root := mkCA(t, nil, "Test Root", nil)
	tests := []struct {
		name string
		sub  func(*x509.Certificate) // the sub-CA's template change
		leaf func(*x509.Certificate)
		root *node // another root, when the root itself is constrained
		want Reason
	}{
		{"unconstrained-no-san-accepted", nil, nil, nil, ""},
		{"unconstrained-with-san-accepted", nil, withSAN(wantCN), nil, ""},
		{"permitted-domain-no-san-accepted", permit("amazonaws.com"), nil, nil, ""},
		{"permitted-domain-with-san-accepted", permit("amazonaws.com"), withSAN(wantCN), nil, ""},
		{"permitted-dot-domain-accepted", permit(".amazonaws.com"), nil, nil, ""},
		{"permitted-case-insensitive-accepted", permit("AmazonAWS.com"), nil, nil, ""},
		{"permitted-elsewhere-no-san-rejected", permit(".evil.example"), nil, nil, ReasonNameConstraint},
		{"permitted-elsewhere-with-san-rejected", permit(".evil.example"), withSAN(wantCN), nil, ReasonNameConstraint},
		{"permitted-suffix-without-dot-rejected", permit("zonaws.com"), nil, nil, ReasonNameConstraint},
		{"permitted-exact-other-name-rejected", permit("us-east-1.amazonaws.com.evil.example"), nil, nil, ReasonNameConstraint},
		{"excluded-domain-no-san-rejected", exclude("amazonaws.com"), nil, nil, ReasonNameConstraint},
		{"excluded-domain-with-san-rejected", exclude("amazonaws.com"), withSAN(wantCN), nil, ReasonNameConstraint},
		{"excluded-exact-name-rejected", exclude(wantCN), nil, nil, ReasonNameConstraint},
		{"excluded-other-domain-accepted", exclude("evil.example"), nil, nil, ""},
		{"constrained-root-applies-rejected", nil, nil,
			mkCA(t, nil, "Constrained Root", permit(".evil.example")), ReasonNameConstraint},
		{"san-other-than-cn-rejected", nil, withSAN("managed-ssh-signer.evil.example"), nil, ReasonWrongName},
		{"wildcard-san-is-not-the-name", nil, withSAN("*.us-east-1.amazonaws.com"), nil, ReasonWrongName},
		{"san-among-others-accepted", nil, withSAN("other.example", wantCN), nil, ""},
		{"email-only-sub-ca-rejected", usage(x509.ExtKeyUsageEmailProtection), nil, nil, ReasonUsage},
		{"code-signing-signer-rejected", nil, usage(x509.ExtKeyUsageCodeSigning), nil, ReasonUsage},
		{"server-auth-sub-ca-accepted", usage(x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth), nil, nil, ""},
		{"client-auth-signer-accepted", nil, usage(x509.ExtKeyUsageClientAuth), nil, ""},
		{"server-auth-signer-accepted", nil, usage(x509.ExtKeyUsageServerAuth), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := root
			if tc.root != nil {
				r = tc.root
			}
			sub := mkCA(t, r, "Test Sub CA", tc.sub)
			in := chainInput(t, leaf(sub, tc.leaf), sub, r)
			_, err := Verify(in)
			checkResult(t, nil, err, tc.want)
			_, err = VerifyChain(in)
			checkResult(t, nil, err, tc.want)
		})
	}
}

// TestNameConstraintAboveSubCA: a constraint two levels up binds every CA below it.
func TestNameConstraintAboveSubCA(t *testing.T) {
	p := newPKI(t, pki.Options{})
	root := mkCA(t, nil, "Test Root", nil)
	mid := mkCA(t, root, "Constrained Mid", func(c *x509.Certificate) { c.PermittedDNSDomains = []string{".evil.example"} })
	sub := mkCA(t, mid, "Unconstrained Sub", nil)
	l := mkCert(t, sub, &x509.Certificate{Subject: pkix.Name{CommonName: wantCN}}, p.SignerKey().Public(), nil)
	_, err := Verify(chainInput(t, l, sub, mid, root))
	checkResult(t, nil, err, ReasonNameConstraint)
}

func TestMatchDNSConstraint(t *testing.T) {
	tests := []struct {
		name, constraint string
		want             bool
	}{
		{"a.example.com", "", true},
		{"example.com", "example.com", true},
		{"a.example.com", "example.com", true},
		{"A.Example.COM", "example.com", true},
		{"aexample.com", "example.com", false},
		{"example.com", ".example.com", false},
		{"a.example.com", ".example.com", true},
		{"com", "example.com", false},
		{"example.com.evil", "example.com", false},
	}
	for _, tc := range tests {
		if got := matchDNSConstraint(tc.name, tc.constraint); got != tc.want {
			t.Errorf("matchDNSConstraint(%q, %q) = %v, want %v", tc.name, tc.constraint, got, tc.want)
		}
	}
}
