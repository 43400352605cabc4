package signer

import (
	"bytes"
	"crypto"
	_ "crypto/sha1"   // CertID hashes: registered so crypto.Hash.New works
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
// to a certificate. Its signature is checked later, by x/crypto/ocsp, against the matched issuer.
type staple struct {
	n       int // 1-based position in Input.Staples, for messages
	der     []byte
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
	TBS       responseData
	SigAlg    pkix.AlgorithmIdentifier
	Signature asn1.BitString
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

// parseStaples decodes the CertIDs of every staple; it returns the usable ones and how many could
// not be decoded at all.
func parseStaples(raw [][]byte) ([]staple, int) {
	var out []staple
	bad := 0
	for i, der := range raw {
		ids, err := decodeCertIDs(der)
		if err != nil {
			bad++
			continue
		}
		out = append(out, staple{n: i + 1, der: der, certIDs: ids})
	}
	return out, bad
}

func decodeCertIDs(der []byte) ([]certID, error) {
	if len(der) > MaxStapleSize {
		return nil, errors.New("too large")
	}
	var resp ocspResponse
	if rest, err := asn1.Unmarshal(der, &resp); err != nil || len(rest) != 0 {
		return nil, errors.New("not an OCSPResponse")
	}
	if resp.Status != 0 || !resp.Bytes.Type.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}) {
		return nil, errors.New("not a successful basic OCSP response")
	}
	var basic basicResponse
	if rest, err := asn1.Unmarshal(resp.Bytes.Response, &basic); err != nil || len(rest) != 0 {
		return nil, errors.New("not a BasicOCSPResponse")
	}
	ids := make([]certID, 0, len(basic.TBS.Responses))
	for _, single := range basic.TBS.Responses {
		var id certID
		// The rest of SingleResponse (status, times, extensions) is x/crypto/ocsp's to parse.
		if single.Class != asn1.ClassUniversal || single.Tag != asn1.TagSequence {
			return nil, errors.New("SingleResponse is not a SEQUENCE")
		}
		if _, err := asn1.Unmarshal(single.Bytes, &id); err != nil || id.Serial == nil {
			return nil, errors.New("bad CertID")
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, errors.New("no responses")
	}
	return ids, nil
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
		if h == 0 || !h.Available() {
			return false
		}
		var spki struct {
			Algorithm pkix.AlgorithmIdentifier
			PublicKey asn1.BitString
		}
		if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
			return false
		}
		name, key := h.New(), h.New()
		name.Write(issuer.RawSubject)
		key.Write(spki.PublicKey.RightAlign())
		return bytes.Equal(id.NameHash, name.Sum(nil)) && bytes.Equal(id.KeyHash, key.Sum(nil))
	}
	return false
}

// checkRevocation checks the staples of every certificate of a verified chain except its anchor
// and returns the earliest nextUpdate among the staples it relied on.
func checkRevocation(chain []*x509.Certificate, staples []staple, unparseable int, now time.Time) (time.Time, error) {
	var next time.Time
	for i := 0; i+1 < len(chain); i++ {
		nu, err := checkCert(chain[i], chain[i+1], staples, unparseable, now)
		if err != nil {
			return time.Time{}, err
		}
		if next.IsZero() || nu.Before(next) {
			next = nu
		}
	}
	return next, nil
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

func checkCert(cert, issuer *x509.Certificate, staples []staple, unparseable int, now time.Time) (time.Time, error) {
	cn := cert.Subject.CommonName
	var best *ocsp.Response
	var worst *Error
	for _, s := range staples {
		if !s.names(cert, issuer) {
			continue
		}
		resp, err := checkStaple(s, cert, issuer, now)
		switch {
		case err != nil && err.Reason == ReasonRevoked:
			// A validly signed revocation wins over any good staple.
			return time.Time{}, err
		case err != nil:
			if worst == nil || failureRank(err.Reason) < failureRank(worst.Reason) {
				worst = err
			}
		case best == nil || resp.NextUpdate.After(best.NextUpdate):
			best = resp
		}
	}
	switch {
	case best != nil:
		return best.NextUpdate, nil
	case worst != nil:
		return time.Time{}, worst
	}
	detail := fmt.Sprintf("none of the %d staples names serial %x issued by %q", len(staples)+unparseable,
		cert.SerialNumber, issuer.Subject.CommonName)
	if unparseable > 0 {
		detail += fmt.Sprintf(" (%d could not be parsed)", unparseable)
	}
	return time.Time{}, &Error{Reason: ReasonStapleMissing, Subject: cn, Detail: detail}
}

// checkStaple checks the signature, responder, status and times of one staple that names cert.
func checkStaple(s staple, cert, issuer *x509.Certificate, now time.Time) (*ocsp.Response, *Error) {
	cn := cert.Subject.CommonName
	resp, err := ocsp.ParseResponseForCert(s.der, cert, issuer)
	if err != nil {
		// Parsing again without the issuer separates "not signed by the issuer" from "broken".
		if _, err2 := ocsp.ParseResponseForCert(s.der, cert, nil); err2 == nil {
			e := fail(ReasonBadSignature, cn, "staple %d is not signed by %q or its delegated responder: %v",
				s.n, issuer.Subject.CommonName, err)
			e.Err = err
			return nil, e
		}
		e := fail(ReasonMalformed, cn, "staple %d: %v", s.n, err)
		e.Err = err
		return nil, e
	}
	if r := resp.Certificate; r != nil && !r.Equal(issuer) {
		// x/crypto/ocsp checked that the issuer signed the responder, not that it may answer OCSP.
		if !hasOCSPSigning(r) {
			return nil, fail(ReasonBadSignature, cn, "staple %d is signed by responder %q, which lacks the OCSP signing usage",
				s.n, r.Subject.CommonName)
		}
		if now.Before(r.NotBefore) || now.After(r.NotAfter) {
			return nil, fail(ReasonBadSignature, cn, "staple %d is signed by responder %q, valid %s to %s only",
				s.n, r.Subject.CommonName, r.NotBefore.UTC().Format(time.RFC3339), r.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	switch resp.Status {
	case ocsp.Good:
	case ocsp.Revoked:
		return nil, fail(ReasonRevoked, cn, "staple %d says revoked at %s (reason %d)", s.n,
			resp.RevokedAt.UTC().Format(time.RFC3339), resp.RevocationReason)
	default:
		return nil, fail(ReasonUnknown, cn, "staple %d says status unknown", s.n)
	}
	switch {
	case resp.ThisUpdate.After(now.Add(ClockSkew)):
		return nil, fail(ReasonNotYetValid, cn, "staple %d has thisUpdate %s, after now %s", s.n,
			resp.ThisUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case resp.NextUpdate.IsZero():
		return nil, fail(ReasonStale, cn, "staple %d has no nextUpdate", s.n)
	case resp.NextUpdate.Before(now.Add(-ClockSkew)):
		return nil, fail(ReasonStale, cn, "staple %d has nextUpdate %s, before now %s", s.n,
			resp.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return resp, nil
}

func hasOCSPSigning(c *x509.Certificate) bool {
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageOCSPSigning {
			return true
		}
	}
	return false
}
