// Package signer decides whether the managed-ssh-signer certificate served by IMDS may be trusted
// to sign EC2 Instance Connect key bundles.
//
// Contract: Verify takes the signer-cert document, the OCSP staples, a root pool, the expected
// subject name and the time, and returns the signer's RSA key only when all of this holds at that
// time:
//   - the document is a clean PEM chain with the signer first, and the chain verifies to one of the
//     given roots (the served certificates are only intermediate candidates, never trust anchors);
//   - the name: the signer's only subject CN is exactly the expected name; when it has DNS SANs the
//     name is one of them and crypto/x509 verifies the chain for it; name constraints of every CA
//     in the chain permit the name (applied to the CN when there are no DNS SANs, as OpenSSL does,
//     since crypto/x509 ignores the CN), so a CA constrained away from the domain cannot mint it;
//   - every certificate of the chain allows server or client authentication (signerUsages);
//   - its key is RSA of at least MinRSABits;
//   - every certificate of the verified chain except the anchor has a current, good OCSP staple
//     signed by its issuer, or by a responder the issuer delegated (see authorise). The staple's
//     certs field only helps find the signing key: a staple signed by the issuer is good whatever
//     that field holds, which is what `openssl ocsp -VAfile ISSUER` accepts too.
//
// Staples are matched to certificates by the CertID inside each response, never by name or order.
// A verified Signer must not be used past NotAfter (the chain's and any delegated responder's
// expiry) or NextUpdate (the earliest staple's).
//
// The package is pure: it reads no clock, file, environment or network, and it fails closed: any
// doubt is an *Error with a Reason. It never hand-rolls crypto: signatures are checked by
// crypto/x509 and golang.org/x/crypto/ocsp; this package only decodes the CertIDs (to match
// staples) and the certs field (to try its certificates as delegated responders) with
// encoding/asn1.
package signer

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"time"
)

// Limits on what Verify accepts. Production chains have three certificates of about 1.5 KiB and
// three staples of about 2 KiB; the limits leave room without letting IMDS make us work hard.
const (
	MaxChainBytes = 128 << 10
	MaxChainCerts = 8
	MaxStaples    = 16 // a real chain has two or three
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
	// StapleUpdates holds, for each certificate of Chain but the anchor, the nextUpdate of the
	// staple it was verified with (eic-agent doctor reports them).
	StapleUpdates []time.Time
}

// ExpectedCN is the subject CN the signer must carry: managed-ssh-signer.REGION.DOMAIN. The caller
// must have validated region and domain (an attacker-chosen domain makes any public certificate
// a valid signer).
func ExpectedCN(region, domain string) string {
	return "managed-ssh-signer." + region + "." + domain
}

// Verify checks the signer chain and its staples at in.Now. Every error is an *Error.
func Verify(in Input) (*Signer, error) {
	chains, err := VerifyChain(in)
	if err != nil {
		return nil, err
	}
	if len(in.Staples) > MaxStaples {
		return nil, fail(ReasonMalformed, "", "%d staples, at most %d allowed", len(in.Staples), MaxStaples)
	}
	staples, unparseable := parseStaples(in.Staples)
	// Several chains can verify (cross-signed roots); take the first whose staples all check out,
	// and report the first chain's failure when none does.
	var first error
	for _, chain := range chains {
		res, err := checkRevocation(chain, staples, unparseable, in.Now)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		// checkLeaf has seen that the key is RSA.
		s := &Signer{Key: chain[0].PublicKey.(*rsa.PublicKey), Chain: chain, NextUpdate: res.NextUpdate,
			NotAfter: earliest(chain[0].NotAfter, res.ResponderNotAfter), StapleUpdates: res.updates}
		for _, c := range chain[1:] {
			s.NotAfter = earliest(s.NotAfter, c.NotAfter)
		}
		return s, nil
	}
	return nil, first
}

// signerUsages are the extended key usages the whole signer chain must allow, at least one of
// them through every certificate (crypto/x509's nesting rule; no EKU at all allows any). AWS
// issues the signer from its public TLS hierarchy, whose intermediates allow server and client
// authentication; a CA limited to anything else (e-mail protection, code signing) has no right
// to issue it.
var signerUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

// VerifyChain checks the signer-cert document alone, without staples: the chain parses strictly,
// the signer's name and key are right, name constraints anywhere in the chain permit that name,
// the chain allows signerUsages, and it leads to in.Roots at in.Now. It returns every chain that
// holds, leaf first. Every error is an *Error.
func VerifyChain(in Input) ([][]*x509.Certificate, error) {
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
	if err := checkLeaf(leaf, in.ExpectedCN); err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{
		Roots:         in.Roots,
		Intermediates: inter,
		CurrentTime:   in.Now,
		KeyUsages:     signerUsages,
	}
	if len(leaf.DNSNames) > 0 {
		// crypto/x509 applies every CA's name constraints to the SANs, and checks the name.
		opts.DNSName = in.ExpectedCN
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, chainError(leaf, err)
	}
	if len(leaf.DNSNames) > 0 {
		return chains, nil
	}
	// Without DNS SANs crypto/x509 checks no name at all against constraints (it ignores the CN),
	// so a CA permitted only .evil.example could mint the signer's name. Apply them to the CN, as
	// OpenSSL does.
	var ok [][]*x509.Certificate
	var first *Error
	for _, chain := range chains {
		if err := checkCNConstraints(chain, in.ExpectedCN); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		ok = append(ok, chain)
	}
	if len(ok) == 0 {
		return nil, first
	}
	return ok, nil
}

// chainError turns a crypto/x509 verification failure into an *Error with the most specific reason.
func chainError(leaf *x509.Certificate, err error) *Error {
	r := ReasonUntrusted
	var inv x509.CertificateInvalidError
	var host x509.HostnameError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.CANotAuthorizedForThisName:
		r = ReasonNameConstraint
	case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
		r = ReasonUsage
	case errors.As(err, &host):
		r = ReasonWrongName
	}
	return &Error{Reason: r, Subject: leaf.Subject.CommonName, Detail: err.Error(), Err: err}
}

// checkCNConstraints applies the DNS name constraints of every CA in a verified chain (the anchor
// too, as crypto/x509 and OpenSSL do) to the signer's CN.
func checkCNConstraints(chain []*x509.Certificate, cn string) *Error {
	for _, ca := range chain[1:] {
		if len(ca.PermittedDNSDomains) > 0 && !slices.ContainsFunc(ca.PermittedDNSDomains,
			func(c string) bool { return matchDNSConstraint(cn, c) }) {
			return fail(ReasonNameConstraint, cn, "CA %q may only issue names in %q", ca.Subject.CommonName, ca.PermittedDNSDomains)
		}
		if i := slices.IndexFunc(ca.ExcludedDNSDomains, func(c string) bool { return matchDNSConstraint(cn, c) }); i >= 0 {
			return fail(ReasonNameConstraint, cn, "CA %q may not issue names in %q", ca.Subject.CommonName, ca.ExcludedDNSDomains[i])
		}
	}
	return nil
}

// matchDNSConstraint reports whether a DNS name lies within a dNSName constraint (RFC 5280
// 4.2.1.10): an empty constraint holds every name; "example.com" holds that name and every name
// below it; ".example.com" only the names below it. Case does not matter. This is the rule of
// crypto/x509 and of OpenSSL's nc_dns.
func matchDNSConstraint(name, constraint string) bool {
	name, constraint = strings.ToLower(name), strings.ToLower(constraint)
	switch {
	case constraint == "":
		return true
	case strings.HasPrefix(constraint, "."):
		return len(name) > len(constraint) && strings.HasSuffix(name, constraint)
	}
	return name == constraint || strings.HasSuffix(name, "."+constraint)
}

// checkLeaf checks the signer's name and key before any signature work. When the signer carries
// DNS SANs, the expected name must be one of them too: a client that checks SANs (as TLS does)
// must see the same name we do.
func checkLeaf(leaf *x509.Certificate, want string) error {
	cn := leaf.Subject.CommonName
	n := 0
	for _, atv := range leaf.Subject.Names {
		if atv.Type.Equal([]int{2, 5, 4, 3}) {
			n++
		}
	}
	// pkix.Name keeps only the last CN: with several, the name we compare is ambiguous.
	if n != 1 {
		return fail(ReasonWrongName, cn, "subject has %d CN attributes, want exactly one, %q", n, want)
	}
	if cn != want {
		return fail(ReasonWrongName, cn, "subject CN is not %q", want)
	}
	if len(leaf.DNSNames) > 0 && !slices.ContainsFunc(leaf.DNSNames, func(d string) bool { return strings.EqualFold(d, want) }) {
		return fail(ReasonWrongName, cn, "DNS names %q do not include %q", leaf.DNSNames, want)
	}
	key, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fail(ReasonNotRSA, cn, "key is %v, want RSA", leaf.PublicKeyAlgorithm)
	}
	if bits := key.N.BitLen(); bits < MinRSABits {
		return fail(ReasonWeakKey, cn, "RSA key has %d bits, want at least %d", bits, MinRSABits)
	}
	return nil
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
