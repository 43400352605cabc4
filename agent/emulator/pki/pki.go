// Package pki generates the test certificate authority behind the emulator: a root, an
// intermediate, the managed-ssh-signer certificate whose RSA key signs key bundles, OCSP staples
// for the chain, and deliberately broken variants of each for negative tests.
//
// It is test and demo material only: keys live in memory and are generated fresh each time.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// Options shape the generated hierarchy. Zero values mean: region us-east-1, domain
// amazonaws.com, now = time.Now(), certificates valid from an hour ago for a year.
type Options struct {
	Region string
	Domain string
	// SignerCN overrides the signer's subject CN (default managed-ssh-signer.REGION.DOMAIN).
	SignerCN string
	Now      time.Time
	// SignerNotBefore and SignerNotAfter override the signer certificate's validity.
	SignerNotBefore, SignerNotAfter time.Time
	// SignerBits is the signer's RSA size (default 2048).
	SignerBits int
}

// Authority is a certificate with its private key.
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// PKI is a root -> intermediate -> signer hierarchy.
type PKI struct {
	Root         Authority
	Intermediate Authority
	Signer       Authority // Key is an *rsa.PrivateKey
	// Responder is an OCSP responder delegated by the intermediate (EKU OCSPSigning), used to sign
	// staples for the signer certificate when a test asks for delegation.
	Responder Authority
	// RootResponder is an OCSP responder delegated by the root for the intermediate's staple.
	RootResponder Authority
	now           time.Time
}

// SignerName returns managed-ssh-signer.REGION.DOMAIN.
func SignerName(region, domain string) string {
	return "managed-ssh-signer." + region + "." + domain
}

// New generates a fresh hierarchy.
func New(o Options) (*PKI, error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Domain == "" {
		o.Domain = "amazonaws.com"
	}
	if o.SignerCN == "" {
		o.SignerCN = SignerName(o.Region, o.Domain)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.SignerBits == 0 {
		o.SignerBits = 2048
	}
	nb, na := o.Now.Add(-time.Hour), o.Now.Add(365*24*time.Hour)
	p := &PKI{now: o.Now}
	var err error
	if p.Root, err = newCA("EIC Emulator Test Root CA", nil, nb, na.Add(24*time.Hour)); err != nil {
		return nil, err
	}
	if p.Intermediate, err = newCA("EIC Emulator Test Intermediate CA", &p.Root, nb, na); err != nil {
		return nil, err
	}
	if p.Responder, err = newResponder("EIC Emulator Intermediate OCSP Responder", &p.Intermediate, nb, na); err != nil {
		return nil, err
	}
	if p.RootResponder, err = newResponder("EIC Emulator Root OCSP Responder", &p.Root, nb, na); err != nil {
		return nil, err
	}
	snb, sna := nb, na
	if !o.SignerNotBefore.IsZero() {
		snb = o.SignerNotBefore
	}
	if !o.SignerNotAfter.IsZero() {
		sna = o.SignerNotAfter
	}
	if p.Signer, err = newSigner(o.SignerCN, o.SignerBits, &p.Intermediate, snb, sna); err != nil {
		return nil, err
	}
	return p, nil
}

// Rotate returns a copy of p with a fresh signer key and certificate (same CN and key size,
// valid from an hour before now for a year, but never past the intermediate), issued by the
// same intermediate. Root, intermediate and responders are shared, so trust stores built from
// p stay valid, while bundles signed by p's signer no longer verify with the new key, as
// after a rotation on AWS. p itself is not changed.
func (p *PKI) Rotate(now time.Time) (*PKI, error) {
	na := now.Add(365 * 24 * time.Hour)
	if inter := p.Intermediate.Cert.NotAfter; na.After(inter) {
		na = inter
	}
	old := p.Signer.Cert
	s, err := newSigner(old.Subject.CommonName, p.SignerKey().N.BitLen(), &p.Intermediate, now.Add(-time.Hour), na)
	if err != nil {
		return nil, fmt.Errorf("rotate signer: %w", err)
	}
	q := *p
	q.Signer = s
	q.now = now
	return &q, nil
}

func newSigner(cn string, bits int, issuer *Authority, nb, na time.Time) (Authority, error) {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return Authority{}, fmt.Errorf("generate signer key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"EIC Emulator"}},
		DNSNames:     []string{cn},
		NotBefore:    nb,
		NotAfter:     na,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	cert, err := issue(tmpl, key, issuer)
	if err != nil {
		return Authority{}, err
	}
	return Authority{Cert: cert, Key: key}, nil
}

// SignerKey returns the signer's RSA private key.
func (p *PKI) SignerKey() *rsa.PrivateKey { return p.Signer.Key.(*rsa.PrivateKey) }

// RootPEM is the root certificate in PEM, for building a trust store.
func (p *PKI) RootPEM() []byte { return PEM(p.Root.Cert) }

// ChainPEM is the signer-cert document as IMDS serves it: signer first, then the intermediate,
// then the root when includeRoot is set.
func (p *PKI) ChainPEM(includeRoot bool) []byte {
	out := append(PEM(p.Signer.Cert), PEM(p.Intermediate.Cert)...)
	if includeRoot {
		out = append(out, PEM(p.Root.Cert)...)
	}
	return out
}

// PEM encodes certificates as concatenated CERTIFICATE blocks.
func PEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return n.Add(n, big.NewInt(1))
}

func newCA(cn string, parent *Authority, nb, na time.Time) (Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Authority{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"EIC Emulator"}},
		NotBefore:             nb,
		NotAfter:              na,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	cert, err := issue(tmpl, key, parent)
	if err != nil {
		return Authority{}, err
	}
	return Authority{Cert: cert, Key: key}, nil
}

func newResponder(cn string, parent *Authority, nb, na time.Time) (Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Authority{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"EIC Emulator"}},
		NotBefore:    nb,
		NotAfter:     na,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
	}
	cert, err := issue(tmpl, key, parent)
	if err != nil {
		return Authority{}, err
	}
	return Authority{Cert: cert, Key: key}, nil
}

// issue signs tmpl with parent, or self-signs with self when parent is nil.
func issue(tmpl *x509.Certificate, self crypto.Signer, parent *Authority) (*x509.Certificate, error) {
	pub := self.Public()
	issuerCert, issuerKey := tmpl, self
	if parent != nil {
		issuerCert, issuerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, pub, issuerKey)
	if err != nil {
		return nil, fmt.Errorf("issue %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}
