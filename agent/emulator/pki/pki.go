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
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"
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

// StapleName is the name IMDS gives a staple: uppercase hex SHA-1 of the certificate's DER.
func StapleName(c *x509.Certificate) string {
	s := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// StapleName256 is the SHA-256 variant IMDS once served (upstream issue #26).
func StapleName256(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// SignPSS signs data as the EC2 Instance Connect service does: RSA-PSS, SHA-256, salt 32.
func SignPSS(key *rsa.PrivateKey, data []byte) ([]byte, error) {
	h := sha256.Sum256(data)
	return rsa.SignPSS(rand.Reader, key, crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256})
}

// Status of a staple.
type Status int

// Staple statuses.
const (
	Good Status = iota
	Revoked
	Unknown
)

// StapleSpec describes one OCSP response. Zero value: good, thisUpdate an hour ago, nextUpdate
// in a week, signed directly by the issuer.
type StapleSpec struct {
	Status                 Status
	ThisUpdate, NextUpdate time.Time
	// Serial overrides the serial the response speaks for (a staple for another certificate).
	Serial *big.Int
	// Delegated signs with the issuer's delegated OCSP responder, embedding its certificate.
	Delegated bool
	// Unrelated signs with a fresh key that has nothing to do with the chain (with a
	// self-signed responder certificate embedded).
	Unrelated bool
	// IssuerHash selects the CertID hash (default SHA-1).
	IssuerHash crypto.Hash
	// Certs replaces what the response's certs field carries (RFC 6960 lets it hold whatever
	// helps a client; it never changes who may sign). The signature is unaffected: it covers
	// only the response data.
	Certs Certs
}

// Certs is what an OCSP response's certs field carries.
type Certs int

// The forms of the certs field seen from real responders and from OpenSSL. With Delegated (or
// Unrelated), every form but CertsNone also carries the certificate of whoever signed, just in
// front of the issuer: a delegated response is only verifiable with it, and real responders
// send it along with their chain.
const (
	CertsDefault     Certs = iota // the delegated responder when Delegated, else nothing
	CertsNone                     // nothing, even for a delegated responder
	CertsIssuer                   // the issuer itself: `openssl ocsp -rsigner CA`'s default
	CertsIssuerChain              // the issuer and the certificates above it
	CertsJunk                     // an unrelated certificate, then the issuer
)

// String names the form as the emulator's flags and control API spell it.
func (c Certs) String() string {
	switch c {
	case CertsNone:
		return "none"
	case CertsIssuer:
		return "issuer"
	case CertsIssuerChain:
		return "issuer-chain"
	case CertsJunk:
		return "junk"
	}
	return "default"
}

// ParseCerts is the inverse of Certs.String.
func ParseCerts(s string) (Certs, error) {
	for c := CertsDefault; c <= CertsJunk; c++ {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown staple certs form %q (want default, none, issuer, issuer-chain or junk)", s)
}

// MarshalText writes the form's name, so JSON and flags carry names rather than numbers. A
// value outside the constants is an error rather than another form.
func (c Certs) MarshalText() ([]byte, error) {
	if c < CertsDefault || c > CertsJunk {
		return nil, fmt.Errorf("marshal staple certs form %d: no such form", int(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText is ParseCerts.
func (c *Certs) UnmarshalText(b []byte) error {
	v, err := ParseCerts(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Staple makes a DER OCSP response about cert (the signer or the intermediate of this PKI).
func (p *PKI) Staple(cert *x509.Certificate, spec StapleSpec) ([]byte, error) {
	var issuer, responder Authority
	switch {
	case cert.Equal(p.Signer.Cert):
		issuer, responder = p.Intermediate, p.Responder
	case cert.Equal(p.Intermediate.Cert):
		issuer, responder = p.Root, p.RootResponder
	default:
		return nil, fmt.Errorf("staple: certificate %q is not issued in this PKI", cert.Subject.CommonName)
	}
	if spec.ThisUpdate.IsZero() {
		spec.ThisUpdate = p.now.Add(-time.Hour)
	}
	if spec.NextUpdate.IsZero() {
		spec.NextUpdate = p.now.Add(7 * 24 * time.Hour)
	}
	tmpl := ocsp.Response{
		SerialNumber: cert.SerialNumber,
		ThisUpdate:   spec.ThisUpdate,
		NextUpdate:   spec.NextUpdate,
		IssuerHash:   spec.IssuerHash,
	}
	if spec.Serial != nil {
		tmpl.SerialNumber = spec.Serial
	}
	switch spec.Status {
	case Good:
		tmpl.Status = ocsp.Good
	case Revoked:
		tmpl.Status = ocsp.Revoked
		tmpl.RevokedAt = spec.ThisUpdate.Add(-time.Minute)
		tmpl.RevocationReason = ocsp.KeyCompromise
	case Unknown:
		tmpl.Status = ocsp.Unknown
	}
	signerCert, signerKey := issuer.Cert, issuer.Key
	switch {
	case spec.Unrelated:
		rogue, err := newCA("Unrelated OCSP Responder", nil, p.now.Add(-time.Hour), p.now.Add(24*time.Hour))
		if err != nil {
			return nil, err
		}
		signerCert, signerKey = rogue.Cert, rogue.Key
		tmpl.Certificate = rogue.Cert
	case spec.Delegated:
		signerCert, signerKey = responder.Cert, responder.Key
		tmpl.Certificate = responder.Cert
	}
	der, err := ocsp.CreateResponse(issuer.Cert, signerCert, tmpl, signerKey)
	if err != nil {
		return nil, fmt.Errorf("create OCSP response for %q: %w", cert.Subject.CommonName, err)
	}
	var certs [][]byte
	switch spec.Certs {
	case CertsDefault:
		return der, nil
	case CertsNone:
		return replaceCerts(der, nil)
	case CertsJunk:
		junk, err := newCA("Junk Certificate", nil, p.now.Add(-time.Hour), p.now.Add(24*time.Hour))
		if err != nil {
			return nil, err
		}
		certs = [][]byte{junk.Cert.Raw}
	case CertsIssuer, CertsIssuerChain:
	default:
		return nil, fmt.Errorf("staple: unknown certs form %d", int(spec.Certs))
	}
	if tmpl.Certificate != nil { // Delegated or Unrelated: whoever signed goes in front
		certs = append(certs, tmpl.Certificate.Raw)
	}
	certs = append(certs, issuer.Cert.Raw)
	if spec.Certs == CertsIssuerChain && issuer.Cert.Equal(p.Intermediate.Cert) {
		certs = append(certs, p.Root.Cert.Raw)
	}
	return replaceCerts(der, certs)
}

// StapleBase64 is Staple encoded the way IMDS serves it.
func (p *PKI) StapleBase64(cert *x509.Certificate, spec StapleSpec) ([]byte, error) {
	der, err := p.Staple(cert, spec)
	if err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(der)), nil
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

// replaceCerts re-encodes a DER OCSP response with another certs field. The signature covers
// only tbsResponseData, so the response stays validly signed.
func replaceCerts(der []byte, certs [][]byte) ([]byte, error) {
	type responseBytes struct {
		Type     asn1.ObjectIdentifier
		Response []byte
	}
	type response struct {
		Status asn1.Enumerated
		Bytes  responseBytes `asn1:"explicit,tag:0"`
	}
	type basic struct {
		TBS       asn1.RawValue
		SigAlg    asn1.RawValue
		Signature asn1.RawValue
		Certs     []asn1.RawValue `asn1:"explicit,tag:0,optional"`
	}
	var r response
	if _, err := asn1.Unmarshal(der, &r); err != nil {
		return nil, fmt.Errorf("replace staple certs: %w", err)
	}
	var b basic
	if _, err := asn1.Unmarshal(r.Bytes.Response, &b); err != nil {
		return nil, fmt.Errorf("replace staple certs: %w", err)
	}
	b.Certs = nil
	for _, c := range certs {
		b.Certs = append(b.Certs, asn1.RawValue{FullBytes: c})
	}
	var err error
	if r.Bytes.Response, err = asn1.Marshal(b); err != nil {
		return nil, fmt.Errorf("replace staple certs: %w", err)
	}
	return asn1.Marshal(r)
}
