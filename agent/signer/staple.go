package signer

import (
	"bytes"
	"crypto"
	"crypto/sha1"     // CertID and ResponderID hashes: registered so crypto.Hash.New works
	_ "crypto/sha256" // and SHA-224/256
	_ "crypto/sha512" // and SHA-384/512
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/ocsp"
)

// DecodeStaple turns a staple as IMDS serves it (standard base64 of the DER) into DER. Raw DER
// (starting with a SEQUENCE tag) is accepted too. Anything larger than MaxStapleSize is refused.
func DecodeStaple(b []byte) ([]byte, error) {
	if len(b) > 2*MaxStapleSize {
		return nil, fmt.Errorf("decode OCSP staple: %d bytes, at most %d allowed", len(b), MaxStapleSize)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 {
		if der, err := base64.StdEncoding.DecodeString(string(t)); err == nil {
			if len(der) > MaxStapleSize {
				return nil, fmt.Errorf("decode OCSP staple: %d bytes, at most %d allowed", len(der), MaxStapleSize)
			}
			return der, nil
		}
	}
	// Raw DER is not trimmed: its last bytes may well be whitespace characters.
	switch {
	case len(b) == 0 || b[0] != 0x30:
		return nil, errors.New("decode OCSP staple: neither base64 nor DER")
	case len(b) > MaxStapleSize:
		return nil, fmt.Errorf("decode OCSP staple: %d bytes, at most %d allowed", len(b), MaxStapleSize)
	}
	return b, nil
}

// staple is one OCSP response with the CertIDs it speaks for, decoded only far enough to match it
// to a certificate and to separate its certs field from what is signed.
type staple struct {
	n int // 1-based position in Input.Staples, for messages
	// der is the response with its certs field removed, so that x/crypto/ocsp parses it without
	// deciding anything about who signed it: that is authorise's job.
	der []byte
	// certs holds the certificates of the certs field that parse, in order. They only help find
	// the signing key; they never make anyone a responder by being there.
	certs   []*x509.Certificate
	certIDs []certID
}

// RFC 6960 structures, with everything this package does not need left raw.
type ocspResponse struct {
	Status asn1.Enumerated
	Bytes  responseBytes `asn1:"explicit,tag:0,optional"`
}

type responseBytes struct {
	Type     asn1.ObjectIdentifier
	Response []byte
}

type basicResponse struct {
	TBS       asn1.RawValue
	SigAlg    asn1.RawValue
	Signature asn1.RawValue
	Certs     []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type responseData struct {
	Version     int `asn1:"optional,default:0,explicit,tag:0"`
	ResponderID asn1.RawValue
	ProducedAt  time.Time `asn1:"generalized"`
	Responses   []asn1.RawValue
	Extensions  []pkix.Extension `asn1:"optional,explicit,tag:1"`
}

type certID struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	NameHash      []byte
	KeyHash       []byte
	Serial        *big.Int
}

var idPKIXOCSPBasic = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}

// parseStaples decodes every staple; it returns the usable ones and how many could not be decoded
// at all.
func parseStaples(raw [][]byte) ([]staple, int) {
	var out []staple
	bad := 0
	for i, der := range raw {
		s, err := parseStaple(der)
		if err != nil {
			bad++
			continue
		}
		s.n = i + 1
		out = append(out, s)
	}
	return out, bad
}

func parseStaple(der []byte) (staple, error) {
	if len(der) > MaxStapleSize {
		return staple{}, errors.New("too large")
	}
	var resp ocspResponse
	if rest, err := asn1.Unmarshal(der, &resp); err != nil || len(rest) != 0 {
		return staple{}, errors.New("not an OCSPResponse")
	}
	if resp.Status != 0 || !resp.Bytes.Type.Equal(idPKIXOCSPBasic) {
		return staple{}, errors.New("not a successful basic OCSP response")
	}
	var basic basicResponse
	if rest, err := asn1.Unmarshal(resp.Bytes.Response, &basic); err != nil || len(rest) != 0 {
		return staple{}, errors.New("not a BasicOCSPResponse")
	}
	var tbs responseData
	if rest, err := asn1.Unmarshal(basic.TBS.FullBytes, &tbs); err != nil || len(rest) != 0 {
		return staple{}, errors.New("bad ResponseData")
	}
	s := staple{certIDs: make([]certID, 0, len(tbs.Responses))}
	for _, single := range tbs.Responses {
		var id certID
		// The rest of SingleResponse (status, times, extensions) is x/crypto/ocsp's to parse.
		if single.Class != asn1.ClassUniversal || single.Tag != asn1.TagSequence {
			return staple{}, errors.New("SingleResponse is not a SEQUENCE")
		}
		if _, err := asn1.Unmarshal(single.Bytes, &id); err != nil || id.Serial == nil {
			return staple{}, errors.New("bad CertID")
		}
		s.certIDs = append(s.certIDs, id)
	}
	if len(s.certIDs) == 0 {
		return staple{}, errors.New("no responses")
	}
	for _, raw := range basic.Certs {
		// A certificate that does not parse cannot have signed anything we could check: skip it,
		// as it may be junk next to the one that matters.
		if c, err := x509.ParseCertificate(raw.FullBytes); err == nil {
			s.certs = append(s.certs, c)
		}
	}
	// The signed part (TBS) is kept byte for byte; only the unsigned certs field goes.
	basic.Certs = nil
	var err error
	if resp.Bytes.Response, err = asn1.Marshal(basic); err != nil {
		return staple{}, fmt.Errorf("re-encode without certs: %w", err)
	}
	if s.der, err = asn1.Marshal(resp); err != nil {
		return staple{}, fmt.Errorf("re-encode without certs: %w", err)
	}
	return s, nil
}

func hashForOID(oid asn1.ObjectIdentifier) crypto.Hash {
	switch {
	case oid.Equal(asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}):
		return crypto.SHA1
	case oid.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}):
		return crypto.SHA256
	case oid.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}):
		return crypto.SHA384
	case oid.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}):
		return crypto.SHA512
	}
	return 0
}

// names reports whether the staple speaks for cert as issued by issuer. Like x/crypto/ocsp, it
// looks at the first SingleResponse with cert's serial, so both agree on which one counts.
func (s staple) names(cert, issuer *x509.Certificate) bool {
	for _, id := range s.certIDs {
		if id.Serial.Cmp(cert.SerialNumber) != 0 {
			continue
		}
		h := hashForOID(id.HashAlgorithm.Algorithm)
		key, ok := publicKeyBits(issuer)
		if h == 0 || !h.Available() || !ok {
			return false
		}
		nameHash, keyHash := h.New(), h.New()
		nameHash.Write(issuer.RawSubject)
		keyHash.Write(key)
		return bytes.Equal(id.NameHash, nameHash.Sum(nil)) && bytes.Equal(id.KeyHash, keyHash.Sum(nil))
	}
	return false
}

// publicKeyBits is the subjectPublicKey BIT STRING of c, the input of RFC 6960's key hashes.
func publicKeyBits(c *x509.Certificate) ([]byte, bool) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil || len(rest) != 0 {
		return nil, false
	}
	return spki.PublicKey.RightAlign(), true
}

// identifies reports whether the response's ResponderID names c, by subject or by the SHA-1 of
// its key (RFC 6960 4.2.2.3). OpenSSL finds the signer this way too, so a response that names
// someone other than its signer is refused by both.
func identifies(resp *ocsp.Response, c *x509.Certificate) bool {
	if resp.RawResponderName != nil {
		return bytes.Equal(resp.RawResponderName, c.RawSubject)
	}
	key, ok := publicKeyBits(c)
	if !ok {
		return false
	}
	h := sha1.Sum(key)
	return bytes.Equal(resp.ResponderKeyHash, h[:])
}

// StapleResult is what a good staple contributes to a verified signer.
type StapleResult struct {
	NextUpdate time.Time // re-verify before this
	// ResponderNotAfter is when the delegated responder that signed the staple expires; zero
	// when the issuer signed it itself. Past it the staple no longer vouches for anything.
	ResponderNotAfter time.Time

	updates []time.Time // checkRevocation: each certificate's staple's nextUpdate, in chain order
}

// CheckStaple checks one DER OCSP response about cert, issued by issuer, at now: that it names
// cert by its CertID, is signed by an authorised responder (see authorise), says good, and is
// current within ClockSkew. Every error is an *Error.
func CheckStaple(der []byte, cert, issuer *x509.Certificate, now time.Time) (StapleResult, error) {
	s, err := parseStaple(der)
	if err != nil {
		return StapleResult{}, fail(ReasonMalformed, cert.Subject.CommonName, "staple: %v", err)
	}
	s.n = 1
	if !s.names(cert, issuer) {
		return StapleResult{}, fail(ReasonStapleMissing, cert.Subject.CommonName,
			"the staple does not name serial %x issued by %q", cert.SerialNumber, issuer.Subject.CommonName)
	}
	res, e := checkStaple(s, cert, issuer, now)
	if e != nil {
		return StapleResult{}, e
	}
	return res, nil
}

// checkRevocation checks the staples of every certificate of a verified chain except its anchor.
// It returns the earliest nextUpdate and responder expiry among the staples it relied on.
func checkRevocation(chain []*x509.Certificate, staples []staple, unparseable int, now time.Time) (StapleResult, error) {
	var out StapleResult
	for i := 0; i+1 < len(chain); i++ {
		r, err := checkCert(chain[i], chain[i+1], staples, unparseable, now)
		if err != nil {
			return StapleResult{}, err
		}
		out.NextUpdate = earliest(out.NextUpdate, r.NextUpdate)
		out.ResponderNotAfter = earliest(out.ResponderNotAfter, r.ResponderNotAfter)
		out.updates = append(out.updates, r.NextUpdate)
	}
	return out, nil
}

// earliest is the earlier of two times, a zero time meaning "no bound".
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// failureRank orders staple failures for reporting when no staple for a certificate is good.
func failureRank(r Reason) int {
	switch r {
	case ReasonUnknown:
		return 0
	case ReasonBadSignature:
		return 1
	case ReasonNotYetValid:
		return 2
	case ReasonStale:
		return 3
	}
	return 4
}

func checkCert(cert, issuer *x509.Certificate, staples []staple, unparseable int, now time.Time) (StapleResult, error) {
	cn := cert.Subject.CommonName
	var best StapleResult
	found := false
	var worst *Error
	for _, s := range staples {
		if !s.names(cert, issuer) {
			continue
		}
		res, err := checkStaple(s, cert, issuer, now)
		switch {
		case err != nil && err.Reason == ReasonRevoked:
			// A validly signed revocation wins over any good staple.
			return StapleResult{}, err
		case err != nil:
			if worst == nil || failureRank(err.Reason) < failureRank(worst.Reason) {
				worst = err
			}
		case !found || res.NextUpdate.After(best.NextUpdate):
			best, found = res, true
		}
	}
	switch {
	case found:
		return best, nil
	case worst != nil:
		return StapleResult{}, worst
	}
	detail := fmt.Sprintf("none of the %d staples names serial %x issued by %q", len(staples)+unparseable,
		cert.SerialNumber, issuer.Subject.CommonName)
	if unparseable > 0 {
		detail += fmt.Sprintf(" (%d could not be parsed)", unparseable)
	}
	return StapleResult{}, &Error{Reason: ReasonStapleMissing, Subject: cn, Detail: detail}
}

// checkStaple checks the signature, responder, status and times of one staple that names cert.
func checkStaple(s staple, cert, issuer *x509.Certificate, now time.Time) (StapleResult, *Error) {
	cn := cert.Subject.CommonName
	// s.der has no certs field, and no issuer is passed: the library parses and checks nothing
	// about the signer, so it cannot refuse a correct staple for what its certs field holds.
	resp, err := ocsp.ParseResponseForCert(s.der, cert, nil)
	if err != nil {
		e := fail(ReasonMalformed, cn, "staple %d: %v", s.n, err)
		e.Err = err
		return StapleResult{}, e
	}
	responder, e := authorise(s, resp, issuer, now)
	if e != nil {
		e.Subject = cn
		return StapleResult{}, e
	}
	switch resp.Status {
	case ocsp.Good:
	case ocsp.Revoked:
		return StapleResult{}, fail(ReasonRevoked, cn, "staple %d says revoked at %s (reason %d)", s.n,
			resp.RevokedAt.UTC().Format(time.RFC3339), resp.RevocationReason)
	default:
		return StapleResult{}, fail(ReasonUnknown, cn, "staple %d says status unknown", s.n)
	}
	switch {
	case resp.ThisUpdate.After(now.Add(ClockSkew)):
		return StapleResult{}, fail(ReasonNotYetValid, cn, "staple %d has thisUpdate %s, after now %s", s.n,
			resp.ThisUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case resp.NextUpdate.IsZero():
		return StapleResult{}, fail(ReasonStale, cn, "staple %d has no nextUpdate", s.n)
	case resp.NextUpdate.Before(now.Add(-ClockSkew)):
		return StapleResult{}, fail(ReasonStale, cn, "staple %d has nextUpdate %s, before now %s", s.n,
			resp.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	res := StapleResult{NextUpdate: resp.NextUpdate}
	if responder != issuer {
		res.ResponderNotAfter = responder.NotAfter
	}
	return res, nil
}

// authorise finds who signed the response and decides whether they may speak for issuer's
// certificates (RFC 6960 4.2.2.2): the issuer itself, whatever the certs field holds, or a
// responder certificate from the certs field that the issuer issued directly, that carries
// id-kp-OCSPSigning and that is valid at now. Nothing else, and the ResponderID must name the
// certificate whose key verifies the signature. It returns the signer's certificate.
func authorise(s staple, resp *ocsp.Response, issuer *x509.Certificate, now time.Time) (*x509.Certificate, *Error) {
	if identifies(resp, issuer) && resp.CheckSignatureFrom(issuer) == nil {
		return issuer, nil
	}
	var refused *Error
	for _, c := range s.certs {
		if c.Equal(issuer) || !identifies(resp, c) || resp.CheckSignatureFrom(c) != nil {
			continue
		}
		// c signed the response: it answers for issuer only if issuer delegated that to it.
		switch {
		case !bytes.Equal(c.RawIssuer, issuer.RawSubject) || c.CheckSignatureFrom(issuer) != nil:
			refused = fail(ReasonBadSignature, "", "staple %d is signed by responder %q, which %q did not issue",
				s.n, c.Subject.CommonName, issuer.Subject.CommonName)
		case !hasOCSPSigning(c):
			refused = fail(ReasonBadSignature, "", "staple %d is signed by responder %q, which lacks the OCSP signing usage",
				s.n, c.Subject.CommonName)
		case now.Before(c.NotBefore) || now.After(c.NotAfter):
			refused = fail(ReasonBadSignature, "", "staple %d is signed by responder %q, valid %s to %s only",
				s.n, c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
		default:
			return c, nil
		}
	}
	if refused != nil {
		return nil, refused
	}
	return nil, fail(ReasonBadSignature, "", "staple %d is not signed by %q or a responder it delegated (the response names %s)",
		s.n, issuer.Subject.CommonName, responderName(resp))
}

// responderName describes a ResponderID for messages.
func responderName(resp *ocsp.Response) string {
	if resp.RawResponderName != nil {
		var n pkix.RDNSequence
		if _, err := asn1.Unmarshal(resp.RawResponderName, &n); err == nil {
			var name pkix.Name
			name.FillFromRDNSequence(&n)
			return fmt.Sprintf("responder %q", name.String())
		}
	}
	return fmt.Sprintf("responder key %X", resp.ResponderKeyHash)
}

func hasOCSPSigning(c *x509.Certificate) bool {
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageOCSPSigning {
			return true
		}
	}
	return false
}
