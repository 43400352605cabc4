package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"
)

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

// CertsRoles decodes the certs field of a DER OCSP response with encoding/asn1, independently of
// how Staple wrote it, and names each certificate after its role in p ("root", "intermediate",
// "signer", "responder", "root-responder"; "other: CN" for strangers). Tests use it to see
// which form a served staple has.
func (p *PKI) CertsRoles(der []byte) ([]string, error) {
	var resp struct {
		Status asn1.Enumerated
		Bytes  struct {
			Type     asn1.ObjectIdentifier
			Response []byte
		} `asn1:"explicit,tag:0"`
	}
	if rest, err := asn1.Unmarshal(der, &resp); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("OCSPResponse: %v (%d bytes left)", err, len(rest))
	}
	var basic struct {
		TBS, SigAlg, Signature asn1.RawValue
		Certs                  []asn1.RawValue `asn1:"explicit,tag:0,optional"`
	}
	if rest, err := asn1.Unmarshal(resp.Bytes.Response, &basic); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("BasicOCSPResponse: %v (%d bytes left)", err, len(rest))
	}
	roles := []struct {
		c    *x509.Certificate
		role string
	}{{p.Root.Cert, "root"}, {p.Intermediate.Cert, "intermediate"}, {p.Signer.Cert, "signer"},
		{p.Responder.Cert, "responder"}, {p.RootResponder.Cert, "root-responder"}}
	names := []string{}
	for _, raw := range basic.Certs {
		c, err := x509.ParseCertificate(raw.FullBytes)
		if err != nil {
			return nil, fmt.Errorf("certs field holds something that is not a certificate: %v", err)
		}
		name := "other: " + c.Subject.CommonName
		for _, r := range roles {
			if c.Equal(r.c) {
				name = r.role
			}
		}
		names = append(names, name)
	}
	return names, nil
}
