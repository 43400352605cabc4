// Package signer decides whether the managed-ssh-signer certificate served by IMDS may be trusted
// to sign EC2 Instance Connect key bundles.
//
// Contract: Verify takes the signer-cert document, the OCSP staples, a root pool, the expected
// subject name and the time, and returns the signer's RSA key only when all of this holds at that
// time: the document is a clean PEM chain with the signer first; the signer's subject CN is exactly
// the expected name and its key is RSA of at least MinRSABits; the chain verifies to one of the
// given roots (the served certificates are only intermediate candidates, never trust anchors); and
// every certificate of the verified chain except the anchor has a current, good OCSP staple signed
// by its issuer or by a responder the issuer delegated. Staples are matched to certificates by the
// CertID inside each response, never by name or order.
//
// The package is pure: it reads no clock, file, environment or network, and it fails closed: any
// doubt is an *Error with a Reason. It never hand-rolls crypto: signatures are checked by
// crypto/x509 and golang.org/x/crypto/ocsp; this package only parses the CertID to match staples.
package signer

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"time"
)

// Limits on what Verify accepts. Production chains have three certificates of about 1.5 KiB and
// three staples of about 2 KiB; the limits leave room without letting IMDS make us work hard.
const (
	MaxChainBytes = 128 << 10
	MaxChainCerts = 8
	MaxStaples    = 32
	MaxStapleSize = 64 << 10
	MinRSABits    = 2048
	// ClockSkew is how far thisUpdate may lie in the future and nextUpdate in the past, as OpenSSL
	// allows by default.
	ClockSkew = 5 * time.Minute
)

// Input is everything Verify looks at.
type Input struct {
	ChainPEM   []byte         // the signer-cert document: signer first, then intermediates; a root may be included
	Staples    [][]byte       // DER OCSP responses (see DecodeStaple), any order, any names
	Roots      *x509.CertPool // trust anchors; nil is an error, never "the system pool"
	ExpectedCN string         // see ExpectedCN
	Now        time.Time
}

// Signer is a verified signer certificate.
type Signer struct {
	Key        *rsa.PublicKey
	Chain      []*x509.Certificate // verified: leaf ... anchor
	NextUpdate time.Time           // earliest staple nextUpdate: re-verify before this; zero when the signer is itself an anchor
	NotAfter   time.Time           // earliest NotAfter in the chain
}

// ExpectedCN is the subject CN the signer must carry: managed-ssh-signer.REGION.DOMAIN. The caller
// must have validated region and domain (an attacker-chosen domain makes any public certificate
// a valid signer).
func ExpectedCN(region, domain string) string {
	return "managed-ssh-signer." + region + "." + domain
}

// Verify checks the signer chain and its staples at in.Now. Every error is an *Error.
func Verify(in Input) (*Signer, error) {
	switch {
	case in.Roots == nil:
		// x509 would fall back to the system pool, which honours SSL_CERT_FILE.
		return nil, fail(ReasonBadInput, "", "no trust roots given")
	case in.ExpectedCN == "":
		return nil, fail(ReasonBadInput, "", "no expected signer name given")
	case in.Now.IsZero():
		// x509 would read the clock.
		return nil, fail(ReasonBadInput, "", "no verification time given")
	}
	certs, err := parseChain(in.ChainPEM)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	key, err := checkLeaf(leaf, in.ExpectedCN)
	if err != nil {
		return nil, err
	}

	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         in.Roots,
		Intermediates: inter,
		CurrentTime:   in.Now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, &Error{Reason: ReasonUntrusted, Subject: leaf.Subject.CommonName, Detail: err.Error(), Err: err}
	}

	if len(in.Staples) > MaxStaples {
		return nil, fail(ReasonMalformed, "", "%d staples, at most %d allowed", len(in.Staples), MaxStaples)
	}
	staples, unparseable := parseStaples(in.Staples)
	// Several chains can verify (cross-signed roots); take the first whose staples all check out,
	// and report the first chain's failure when none does.
	var first error
	for _, chain := range chains {
		next, err := checkRevocation(chain, staples, unparseable, in.Now)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		s := &Signer{Key: key, Chain: chain, NextUpdate: next, NotAfter: chain[0].NotAfter}
		for _, c := range chain[1:] {
			if c.NotAfter.Before(s.NotAfter) {
				s.NotAfter = c.NotAfter
			}
		}
		return s, nil
	}
	return nil, first
}

// checkLeaf checks the signer's name and key before any signature work.
func checkLeaf(leaf *x509.Certificate, want string) (*rsa.PublicKey, error) {
	cn := leaf.Subject.CommonName
	n := 0
	for _, atv := range leaf.Subject.Names {
		if atv.Type.Equal([]int{2, 5, 4, 3}) {
			n++
		}
	}
	// pkix.Name keeps only the last CN: with several, the name we compare is ambiguous.
	if n != 1 {
		return nil, fail(ReasonWrongName, cn, "subject has %d CN attributes, want exactly one, %q", n, want)
	}
	if cn != want {
		return nil, fail(ReasonWrongName, cn, "subject CN is not %q", want)
	}
	key, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fail(ReasonNotRSA, cn, "key is %v, want RSA", leaf.PublicKeyAlgorithm)
	}
	if bits := key.N.BitLen(); bits < MinRSABits {
		return nil, fail(ReasonWeakKey, cn, "RSA key has %d bits, want at least %d", bits, MinRSABits)
	}
	return key, nil
}

// parseChain strictly parses the signer-cert document: CERTIFICATE blocks without headers,
// separated only by whitespace. pem.Decode alone would skip junk before and between blocks.
func parseChain(doc []byte) ([]*x509.Certificate, error) {
	if len(doc) > MaxChainBytes {
		return nil, fail(ReasonBadChain, "", "document has %d bytes, at most %d allowed", len(doc), MaxChainBytes)
	}
	var certs []*x509.Certificate
	rest := doc
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			break
		}
		if len(certs) == MaxChainCerts {
			return nil, fail(ReasonBadChain, "", "more than %d certificates", MaxChainCerts)
		}
		block, tail, err := nextBlock(rest)
		if err != nil {
			return nil, fail(ReasonBadChain, "", "PEM block %d: %v", len(certs)+1, err)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			e := fail(ReasonBadChain, "", "certificate %d: %v", len(certs)+1, err)
			e.Err = err
			return nil, e
		}
		certs = append(certs, c)
		rest = tail
	}
	if len(certs) == 0 {
		return nil, fail(ReasonBadChain, "", "no certificate")
	}
	return certs, nil
}

const (
	pemBegin = "-----BEGIN "
	pemEnd   = "\n-----END "
)

// nextBlock decodes the PEM block that starts exactly at the beginning of b and ends at the end of
// its END line.
func nextBlock(b []byte) (*pem.Block, []byte, error) {
	if !bytes.HasPrefix(b, []byte(pemBegin)) {
		return nil, nil, errors.New("unexpected data where a BEGIN line was expected")
	}
	end := bytes.Index(b, []byte(pemEnd))
	if end < 0 {
		return nil, nil, errors.New("no END line")
	}
	lineEnd := len(b)
	if i := bytes.IndexByte(b[end+1:], '\n'); i >= 0 {
		lineEnd = end + 1 + i + 1
	}
	one := b[:lineEnd]
	if bytes.Contains(one[1:], []byte(pemBegin)) {
		return nil, nil, errors.New("BEGIN line inside a block")
	}
	block, tail := pem.Decode(one)
	switch {
	case block == nil || len(bytes.TrimSpace(tail)) != 0:
		return nil, nil, errors.New("not a valid PEM block")
	case block.Type != "CERTIFICATE":
		return nil, nil, errors.New("type " + block.Type + ", want CERTIFICATE")
	case len(block.Headers) != 0:
		return nil, nil, errors.New("unexpected PEM headers")
	}
	return block, b[lineEnd:], nil
}
