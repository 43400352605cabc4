// Package keys decides which keys of a parsed EC2 Instance Connect bundle sshd may use, and why
// every other block was rejected.
//
// Contract: Evaluate is pure. It trusts only Input.SignerKey (already verified by agent/signer),
// Input.InstanceID and Input.Now. Nothing a block says is believed before its signature verifies;
// until then Caller, RequestID and the key's fingerprint are reported only as the block's claim.
// A key is accepted only when its block is well formed, carries #Timestamp and #Instance, is
// signed by SignerKey (RSA-PSS, SHA-256, salt 32), holds a plain OpenSSH public key without
// authorized_keys options or certificate, names this instance, expires strictly after Now, and
// matches the offered fingerprint when one is given. Any failure rejects that block only.
package keys

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/bundle"
)

// Reason says why a block was rejected. Values are stable: logs and tests match on them.
type Reason string

// Rejection reasons, in the order Evaluate checks them.
const (
	ReasonMalformed           Reason = "malformed"
	ReasonMissingTimestamp    Reason = "missing-timestamp"
	ReasonMissingInstance     Reason = "missing-instance"
	ReasonBadTimestamp        Reason = "bad-timestamp"
	ReasonUntrustedSigner     Reason = "untrusted-signer"
	ReasonBadSignature        Reason = "bad-signature"
	ReasonBadKey              Reason = "bad-key"
	ReasonKeyOptions          Reason = "key-options"
	ReasonOtherInstance       Reason = "other-instance"
	ReasonExpired             Reason = "expired"
	ReasonFingerprintMismatch Reason = "fingerprint-mismatch"
)

// Input is everything Evaluate decides on.
type Input struct {
	Blocks []bundle.Block
	// SignerKey is the verified signer's key. Nil: no signer is trusted, and every block that
	// gets as far as its signature is rejected with ReasonUntrustedSigner.
	SignerKey *rsa.PublicKey
	// InstanceID is this instance's id. Empty matches no block.
	InstanceID string
	Now        time.Time
	// Fingerprint is the key sshd offers (%f). Nil: no filter.
	Fingerprint *Fingerprint
}

// Accepted is a key sshd may use.
type Accepted struct {
	Line                          string // canonical "TYPE BASE64"
	Key                           ssh.PublicKey
	Fingerprint                   string // SHA256:...
	Caller, RequestID, InstanceID string
	Expires                       time.Time
	Block                         int
}

// Rejected is a block that yields no key.
type Rejected struct {
	Block  int
	Reason Reason
	Detail string
	// As claimed by the block: unverified unless the signature passed. Fingerprint is set
	// whenever the key line parses.
	Fingerprint, Caller, RequestID string
}

// Key types sshd accepts as plain public keys. ssh-dss is left out: OpenSSH disabled it in 7.0
// and removed it in 10.0. Certificates are left out: the bundle carries plain keys.
var keyTypes = map[string]bool{
	ssh.KeyAlgoRSA:        true,
	ssh.KeyAlgoECDSA256:   true,
	ssh.KeyAlgoECDSA384:   true,
	ssh.KeyAlgoECDSA521:   true,
	ssh.KeyAlgoED25519:    true,
	ssh.KeyAlgoSKECDSA256: true,
	ssh.KeyAlgoSKED25519:  true,
}

// maxTimestampDigits is the most an int64 can hold; a longer value is no timestamp.
const maxTimestampDigits = 19

// Evaluate checks every block and returns the accepted keys (each Line once, the copy with the
// latest expiry, in order of first appearance) and one Rejected per other block, in block order.
func Evaluate(in Input) ([]Accepted, []Rejected) {
	var (
		accepted []Accepted
		rejected []Rejected
		seen     = make(map[string]int) // Line -> index in accepted
	)
	for _, b := range in.Blocks {
		a, r, ok := evaluate(in, b, true)
		if !ok {
			rejected = append(rejected, r)
			continue
		}
		if i, dup := seen[a.Line]; dup {
			if a.Expires.After(accepted[i].Expires) {
				accepted[i] = a
			}
			continue
		}
		seen[a.Line] = len(accepted)
		accepted = append(accepted, a)
	}
	return accepted, rejected
}

// Precheck judges each block on its claims alone, without a signer: one entry per block, in
// order, with an empty Reason for a block that could still be accepted once its signature
// verifies. It lets a caller skip fetching and verifying the signer when no block could pass
// anyway. It never accepts anything: a block it passes must still go through Evaluate.
func Precheck(blocks []bundle.Block, instanceID string, now time.Time, fp *Fingerprint) []Rejected {
	in := Input{InstanceID: instanceID, Now: now, Fingerprint: fp}
	out := make([]Rejected, 0, len(blocks))
	for _, b := range blocks {
		_, r, _ := evaluate(in, b, false) // r has no Reason when the block passed
		out = append(out, r)
	}
	return out
}

// evaluate decides one block. ok is false when the block is rejected for r; otherwise r holds
// only the block's claims. With verify false the signature is not checked (Precheck): the
// result is then a claim, never an acceptance.
func evaluate(in Input, b bundle.Block, verify bool) (a Accepted, r Rejected, ok bool) {
	r.Block = b.Index
	r.Caller, _ = b.Get(bundle.FieldCaller)
	r.RequestID, _ = b.Get(bundle.FieldRequest)
	key, keyReason, keyDetail := ParseLine(b.KeyLine)
	if key != nil {
		r.Fingerprint = ssh.FingerprintSHA256(key)
	}
	reject := func(reason Reason, format string, args ...any) (Accepted, Rejected, bool) {
		r.Reason, r.Detail = reason, fmt.Sprintf(format, args...)
		return Accepted{}, r, false
	}

	if b.Err != nil {
		return reject(ReasonMalformed, "%v", b.Err)
	}
	tsText, found := b.Get(bundle.FieldTimestamp)
	if !found {
		return reject(ReasonMissingTimestamp, "no #Timestamp field")
	}
	instance, found := b.Get(bundle.FieldInstance)
	if !found {
		return reject(ReasonMissingInstance, "no #Instance field")
	}
	ts, err := parseTimestamp(tsText)
	if err != nil {
		return reject(ReasonBadTimestamp, "%v", err)
	}
	// Nothing below this point may be believed until the signature verifies.
	if verify {
		if in.SignerKey == nil {
			return reject(ReasonUntrustedSigner, "no trusted signer key")
		}
		if !verified(in.SignerKey, b) {
			return reject(ReasonBadSignature, "signature does not verify with the signer key")
		}
	}
	if keyReason != "" {
		return reject(keyReason, "%s", keyDetail)
	}
	if in.InstanceID == "" || instance != in.InstanceID {
		return reject(ReasonOtherInstance, "block is for instance %.64q, this is %q", instance, in.InstanceID)
	}
	expires := time.Unix(ts, 0)
	if ts <= in.Now.Unix() {
		return reject(ReasonExpired, "expired at %s", expires.UTC().Format(time.RFC3339))
	}
	if in.Fingerprint != nil && !in.Fingerprint.Matches(key) {
		return reject(ReasonFingerprintMismatch, "key %s is not the offered key %s", r.Fingerprint, in.Fingerprint)
	}
	return Accepted{
		Line:        strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))),
		Key:         key,
		Fingerprint: r.Fingerprint,
		Caller:      r.Caller,
		RequestID:   r.RequestID,
		InstanceID:  instance,
		Expires:     expires,
		Block:       b.Index,
	}, r, true
}

// ParseLine is the one rule for a key line that may reach sshd, applied to what the service
// signed and again by the helper to what the warm service answers: a single authorized_keys
// entry of an accepted type (never a certificate), with no options and nothing after the key
// but a comment. It returns the key, or why the line is unusable (a Reason and a detail). The
// key is returned whenever the line parses, so a rejection can name its fingerprint.
func ParseLine(line string) (ssh.PublicKey, Reason, string) {
	if line == "" {
		return nil, ReasonBadKey, "key line is empty"
	}
	key, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	switch {
	case err != nil:
		return nil, ReasonBadKey, fmt.Sprintf("key line does not parse: %v", err)
	case len(options) > 0:
		return key, ReasonKeyOptions, "key line has authorized_keys options"
	case len(rest) > 0:
		return key, ReasonBadKey, "key line has trailing data"
	}
	if _, isCert := key.(*ssh.Certificate); isCert {
		return key, ReasonBadKey, fmt.Sprintf("key is a certificate (%s)", key.Type())
	}
	if !keyTypes[key.Type()] {
		return key, ReasonBadKey, fmt.Sprintf("key type %.64q is not accepted", key.Type())
	}
	return key, "", ""
}

// verified reports whether b's signature is the service's RSA-PSS (SHA-256, salt 32) signature
// over b.Signed by key.
func verified(key *rsa.PublicKey, b bundle.Block) bool {
	digest := sha256.Sum256(b.Signed)
	opts := &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}
	return rsa.VerifyPSS(key, crypto.SHA256, digest[:], b.Signature, opts) == nil
}

// parseTimestamp parses Unix seconds written as 1..19 decimal digits, nothing else.
func parseTimestamp(s string) (int64, error) {
	if s == "" || len(s) > maxTimestampDigits {
		return 0, fmt.Errorf("timestamp %.32q is not 1 to %d decimal digits", s, maxTimestampDigits)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("timestamp %.32q is not 1 to %d decimal digits", s, maxTimestampDigits)
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("timestamp %.32q is out of range", s)
	}
	return ts, nil
}
