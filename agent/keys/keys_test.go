package keys_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/keys"
)

var future = now.Unix() + 60

// acc is the Accepted a test expects for key k from block b expiring at ts.
func acc(k ssh.PublicKey, b int, ts int64) keys.Accepted {
	return keys.Accepted{Line: line(k), Fingerprint: ssh.FingerprintSHA256(k), Caller: caller,
		RequestID: requestID, InstanceID: instanceID, Expires: time.Unix(ts, 0), Block: b}
}

// rej is the Rejected a test expects for block b claiming key k (nil: unparseable or hidden).
func rej(b int, reason keys.Reason, k ssh.PublicKey) keys.Rejected {
	r := keys.Rejected{Block: b, Reason: reason, Caller: caller, RequestID: requestID}
	if k != nil {
		r.Fingerprint = ssh.FingerprintSHA256(k)
	}
	return r
}

func signWith(key *rsa.PrivateKey, opts *rsa.PSSOptions) func(testing.TB, []byte) []byte {
	return func(t testing.TB, data []byte) []byte {
		t.Helper()
		h := sha256.Sum256(data)
		var sig []byte
		var err error
		if opts == nil {
			sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
		} else {
			sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, h[:], opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

type evalCase struct {
	name         string
	blocks       []spec
	input        func(*keys.Input)
	wantAccepted []keys.Accepted
	wantRejected []keys.Rejected
}

func TestEvaluate(t *testing.T) {
	ed := key(t, "ed25519")
	ec := key(t, "ecdsa-p256")
	fp := func(s string) func(*keys.Input) {
		return func(in *keys.Input) {
			f, err := keys.ParseFingerprint(s)
			if err != nil {
				t.Fatal(err)
			}
			in.Fingerprint = &f
		}
	}
	var tests []evalCase
	for _, k := range mustOnce(t, testKeys) {
		tests = append(tests, evalCase{
			name:         "accepts-" + k.name,
			blocks:       []spec{block(future, k.key)},
			wantAccepted: []keys.Accepted{acc(k.key, 0, future)},
		})
	}
	tests = append(tests, []evalCase{
		{
			name:         "comment-dropped-from-printed-line",
			blocks:       []spec{{meta: meta(future), key: line(ed) + " alice@laptop"}},
			wantAccepted: []keys.Accepted{acc(ed, 0, future)},
		},
		{
			name:         "signature-wrapped-over-lines-accepted",
			blocks:       []spec{{meta: meta(future), key: line(ed), wrap: 64}, {meta: meta(future), key: line(ec), wrap: 1}},
			wantAccepted: []keys.Accepted{acc(ed, 0, future), acc(ec, 1, future)},
		},
		{
			name:         "unknown-fields-accepted",
			blocks:       []spec{{meta: append(meta(future), "#Extra=x", "#X-Future_2="), key: line(ed)}},
			wantAccepted: []keys.Accepted{acc(ed, 0, future)},
		},
		{
			name: "any-field-order-accepted",
			blocks: []spec{{meta: []string{"#Request=" + requestID, "#Caller=" + caller,
				"#Instance=" + instanceID, fmt.Sprintf("#Timestamp=%d", future)}, key: line(ed)}},
			wantAccepted: []keys.Accepted{acc(ed, 0, future)},
		},
		{
			name:         "optional-fields-absent-accepted",
			blocks:       []spec{{meta: meta(future)[:2], key: line(ed)}},
			wantAccepted: []keys.Accepted{{Line: line(ed), Fingerprint: ssh.FingerprintSHA256(ed), InstanceID: instanceID, Expires: time.Unix(future, 0)}},
		},
		{
			name:         "tampered-key-line-rejected",
			blocks:       []spec{{meta: meta(future), key: line(ed), serve: replacePrefix("ssh-ed25519 ", line(ec))}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonBadSignature, ec)},
		},
		{
			name:         "tampered-caller-rejected",
			blocks:       []spec{{meta: meta(future), key: line(ed), serve: replacePrefix("#Caller=", "#Caller=arn:aws:iam::123456789012:root")}},
			wantRejected: []keys.Rejected{{Block: 0, Reason: keys.ReasonBadSignature, Caller: "arn:aws:iam::123456789012:root", RequestID: requestID, Fingerprint: ssh.FingerprintSHA256(ed)}},
		},
		{
			name:         "tampered-timestamp-rejected",
			blocks:       []spec{{meta: meta(future), key: line(ed), serve: replacePrefix("#Timestamp=", fmt.Sprintf("#Timestamp=%d", future+3600))}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonBadSignature, ed)},
		},
		{
			name: "truncated-signature-rejected",
			blocks: []spec{{meta: meta(future), key: line(ed), sign: func(t testing.TB, data []byte) []byte {
				sig, err := rsa.SignPSS(rand.Reader, signer(t), crypto.SHA256, sum(data), &rsa.PSSOptions{SaltLength: 32})
				if err != nil {
					t.Fatal(err)
				}
				return sig[:len(sig)-1]
			}}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonBadSignature, ed)},
		},
		{
			name:         "signature-by-foreign-key-rejected",
			blocks:       []spec{{meta: meta(future), key: line(ed), sign: signWith(mustOnce(t, foreignSigner), &rsa.PSSOptions{SaltLength: 32})}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonBadSignature, ed)},
		},
		{
			name:         "pss-salt-other-than-32-rejected",
			blocks:       []spec{{meta: meta(future), key: line(ed), sign: signWith(signer(t), &rsa.PSSOptions{SaltLength: 20})}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonBadSignature, ed)},
		},
		{
			name:         "pkcs1v15-signature-rejected",
			blocks:       []spec{{meta: meta(future), key: line(ed), sign: signWith(signer(t), nil)}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonBadSignature, ed)},
		},
		{
			name:         "missing-timestamp-rejected",
			blocks:       []spec{{meta: meta(future)[1:], key: line(ed)}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonMissingTimestamp, ed)},
		},
		{
			name:         "missing-instance-rejected",
			blocks:       []spec{{meta: append(meta(future)[:1:1], meta(future)[2:]...), key: line(ed)}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonMissingInstance, ed)},
		},
		{
			name:         "missing-both-reports-timestamp-first",
			blocks:       []spec{{meta: meta(future)[2:], key: line(ed)}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonMissingTimestamp, ed)},
		},
		{
			name:         "expiry-equal-to-now-rejected",
			blocks:       []spec{block(now.Unix(), ed)},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonExpired, ed)},
		},
		{
			name:         "expiry-before-now-rejected",
			blocks:       []spec{block(now.Unix()-1, ed)},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonExpired, ed)},
		},
		{
			name:         "expiry-one-second-ahead-accepted",
			blocks:       []spec{block(now.Unix()+1, ed)},
			wantAccepted: []keys.Accepted{acc(ed, 0, now.Unix()+1)},
		},
		{
			name:         "other-instance-rejected",
			blocks:       []spec{{meta: replacePrefix("#Instance=", "#Instance=i-0fedcba9876543210")(meta(future)), key: line(ed)}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonOtherInstance, ed)},
		},
		{
			name:         "empty-instance-id-matches-nothing",
			blocks:       []spec{{meta: replacePrefix("#Instance=", "#Instance=")(meta(future)), key: line(ed)}},
			input:        func(in *keys.Input) { in.InstanceID = "" },
			wantRejected: []keys.Rejected{rej(0, keys.ReasonOtherInstance, ed)},
		},
		{
			name:         "command-option-rejected",
			blocks:       []spec{{meta: meta(future), key: `command="/bin/sh -c id" ` + line(ed)}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonKeyOptions, ed)},
		},
		{
			name:         "restrict-option-rejected",
			blocks:       []spec{{meta: meta(future), key: `restrict,from="10.0.0.0/8" ` + line(ed)}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonKeyOptions, ed)},
		},
		{
			name:         "cr-in-block-rejected-as-malformed",
			blocks:       []spec{{meta: meta(future), key: line(ed), serve: replacePrefix("#Caller=", "#Caller="+caller+"\r")}},
			wantRejected: []keys.Rejected{{Block: 0, Reason: keys.ReasonMalformed}},
		},
		{
			name:         "nul-in-block-rejected-as-malformed",
			blocks:       []spec{{meta: meta(future), key: line(ed) + " a\x00b"}},
			wantRejected: []keys.Rejected{{Block: 0, Reason: keys.ReasonMalformed}},
		},
		{
			name:         "duplicate-field-rejected-as-malformed",
			blocks:       []spec{{meta: append(meta(future), fmt.Sprintf("#Timestamp=%d", future+1)), key: line(ed)}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonMalformed, nil)},
		},
		{
			name:         "sha256-fingerprint-match-accepted",
			blocks:       []spec{block(future, ed), block(future, ec)},
			input:        fp(ssh.FingerprintSHA256(ec)),
			wantAccepted: []keys.Accepted{acc(ec, 1, future)},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonFingerprintMismatch, ed)},
		},
		{
			name:         "sha256-fingerprint-mismatch-rejected",
			blocks:       []spec{block(future, ed)},
			input:        fp(ssh.FingerprintSHA256(ec)),
			wantRejected: []keys.Rejected{rej(0, keys.ReasonFingerprintMismatch, ed)},
		},
		{
			name:         "md5-fingerprint-match-any-case-accepted",
			blocks:       []spec{block(future, ed), block(future, ec)},
			input:        fp("MD5:" + strings.ToUpper(ssh.FingerprintLegacyMD5(ed))),
			wantAccepted: []keys.Accepted{acc(ed, 0, future)},
			wantRejected: []keys.Rejected{rej(1, keys.ReasonFingerprintMismatch, ec)},
		},
		{
			name:         "md5-fingerprint-mismatch-rejected",
			blocks:       []spec{block(future, ec)},
			input:        fp("MD5:" + ssh.FingerprintLegacyMD5(ed)),
			wantRejected: []keys.Rejected{rej(0, keys.ReasonFingerprintMismatch, ec)},
		},
		{
			name: "bad-block-does-not-stop-later-blocks",
			blocks: []spec{
				{meta: meta(future), key: line(ed), sign: signWith(mustOnce(t, foreignSigner), &rsa.PSSOptions{SaltLength: 32})},
				block(future, ed),
				{meta: meta(future), key: line(ec), serve: func(l []string) []string { return l[:len(l)-1] }},
				block(future, ec),
			},
			wantAccepted: []keys.Accepted{acc(ed, 1, future), acc(ec, 3, future)},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonBadSignature, ed), rej(2, keys.ReasonMalformed, ec)},
		},
		{
			name:         "duplicate-keys-printed-once-with-latest-expiry",
			blocks:       []spec{block(future, ed), block(future, ec), block(future+60, ed), block(future+30, ed)},
			wantAccepted: []keys.Accepted{acc(ed, 2, future+60), acc(ec, 1, future)},
		},
		{
			name:         "no-signer-rejects-every-block",
			blocks:       []spec{block(future, ed), block(future, ec)},
			input:        func(in *keys.Input) { in.SignerKey = nil },
			wantRejected: []keys.Rejected{rej(0, keys.ReasonUntrustedSigner, ed), rej(1, keys.ReasonUntrustedSigner, ec)},
		},
	}...)
	tests = append(tests, badTimestampCases(ed)...)
	tests = append(tests, badKeyCases(t, ed)...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blocks, err := bundle.Parse(bundleOf(t, tc.blocks...))
			if err != nil {
				t.Fatal(err)
			}
			in := keys.Input{Blocks: blocks, SignerKey: &signer(t).PublicKey, InstanceID: instanceID, Now: now}
			if tc.input != nil {
				tc.input(&in)
			}
			accepted, rejected := keys.Evaluate(in)
			if diff := cmp.Diff(tc.wantAccepted, accepted, cmpopts.IgnoreFields(keys.Accepted{}, "Key")); diff != "" {
				t.Errorf("accepted mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRejected, rejected, cmpopts.IgnoreFields(keys.Rejected{}, "Detail")); diff != "" {
				t.Errorf("rejected mismatch (-want +got):\n%s", diff)
			}
			for _, a := range accepted {
				if a.Key == nil || line(a.Key) != a.Line {
					t.Errorf("accepted block %d: Key does not print as Line %q", a.Block, a.Line)
				}
			}
			for _, r := range rejected {
				if r.Detail == "" {
					t.Errorf("rejected block %d (%s): empty Detail", r.Block, r.Reason)
				}
			}
		})
	}
}

func sum(data []byte) []byte {
	h := sha256.Sum256(data)
	return h[:]
}

func badTimestampCases(k ssh.PublicKey) []evalCase {
	var out []evalCase
	for _, c := range []struct{ name, ts string }{
		{"empty", ""},
		{"plus-sign", fmt.Sprintf("+%d", future)},
		{"minus-sign", "-1"},
		{"leading-space", fmt.Sprintf(" %d", future)},
		{"trailing-space", fmt.Sprintf("%d ", future)},
		{"letters", "17500000x0"},
		{"fraction", fmt.Sprintf("%d.5", future)},
		{"twenty-digits", "10000000000000000000"},
		{"int64-overflow", "9223372036854775808"},
	} {
		m := meta(future)
		m[0] = "#Timestamp=" + c.ts
		out = append(out, evalCase{
			name:         "timestamp-" + c.name + "-rejected",
			blocks:       []spec{{meta: m, key: line(k)}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonBadTimestamp, k)},
		})
	}
	return out
}

func badKeyCases(t *testing.T, k ssh.PublicKey) []evalCase {
	_, caKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ssh.NewSignerFromKey(caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: k, CertType: ssh.UserCert, ValidPrincipals: []string{"root"},
		ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	// ssh-mldsa-44 parses in newer x/crypto but is no OpenSSH user key type.
	mldsa := ssh.Marshal(&struct{ Name, Key string }{"ssh-mldsa-44", strings.Repeat("\x01", 1312)})
	enc := line(k)[len("ssh-ed25519 "):]
	return []evalCase{
		{
			name:         "certificate-rejected",
			blocks:       []spec{{meta: meta(future), key: line(cert)}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonBadKey, cert)},
		},
		{
			name:         "unparseable-key-rejected",
			blocks:       []spec{{meta: meta(future), key: "ssh-ed25519 " + enc[:len(enc)-4]}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonBadKey, nil)},
		},
		{
			name:         "key-type-mismatch-rejected",
			blocks:       []spec{{meta: meta(future), key: "ssh-rsa " + enc}},
			wantRejected: []keys.Rejected{rej(0, keys.ReasonBadKey, nil)},
		},
		{
			name:         "non-openssh-key-type-rejected",
			blocks:       []spec{{meta: meta(future), key: "ssh-mldsa-44 " + base64.StdEncoding.EncodeToString(mldsa)}},
			wantRejected: []keys.Rejected{{Block: 0, Reason: keys.ReasonBadKey, Caller: caller, RequestID: requestID, Fingerprint: mldsaFingerprint(mldsa)}},
		},
	}
}

// mldsaFingerprint is the fingerprint Rejected reports for the ML-DSA key: set only where this
// x/crypto parses the type.
func mldsaFingerprint(wire []byte) string {
	k, err := ssh.ParsePublicKey(wire)
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(k)
}
