package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

func acceptedFor(k ssh.PublicKey, block int) keys.Accepted {
	return keys.Accepted{
		Line:        testkit.Line(k),
		Key:         k,
		Fingerprint: ssh.FingerprintSHA256(k),
		Caller:      "arn:aws:iam::123456789012:user/alice",
		RequestID:   "req-" + string(rune('a'+block)),
		InstanceID:  "i-0123456789abcdef0",
		Expires:     time.Unix(1_900_000_000+int64(block), 0),
		Block:       block,
	}
}

// resultOpts compares keys by their wire bytes and treats nil and empty slices alike.
var resultOpts = cmp.Options{
	cmp.Comparer(func(a, b ssh.PublicKey) bool {
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		return bytes.Equal(a.Marshal(), b.Marshal())
	}),
	cmpopts.EquateEmpty(),
}

func TestDecodeRequest(t *testing.T) {
	fp := ssh.FingerprintSHA256(testkit.Key(t, ""))
	tests := []struct {
		name    string
		line    string
		want    Request
		wantErr string
	}{
		{name: "user-only", line: `{"v":2,"user":"alice"}` + "\n", want: Request{User: "alice"}},
		{name: "user-and-fingerprint", line: `{"v":2,"user":"ec2-user","fingerprint":"` + fp + `"}` + "\n", want: Request{User: "ec2-user", Fingerprint: fp}},
		{name: "md5-fingerprint", line: `{"v":2,"user":"a","fingerprint":"MD5:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"}` + "\n",
			want: Request{User: "a", Fingerprint: "MD5:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"}},
		{name: "malformed-json-refused", line: "{not json\n", wantErr: "request"},
		{name: "unknown-field-refused", line: `{"v":2,"user":"alice","admin":true}` + "\n", wantErr: "unknown field"},
		{name: "missing-version-refused", line: `{"user":"alice"}` + "\n", wantErr: "no protocol version"},
		{name: "wrong-version-refused", line: `{"v":1,"user":"alice"}` + "\n", wantErr: "version 1"},
		{name: "bad-user-refused", line: `{"v":2,"user":"../x"}` + "\n", wantErr: "not a valid EC2 Instance Connect OS user"},
		{name: "empty-user-refused", line: `{"v":2,"user":""}` + "\n", wantErr: "empty"},
		{name: "bad-fingerprint-refused", line: `{"v":2,"user":"alice","fingerprint":"SHA256:nope"}` + "\n", wantErr: "fingerprint"},
		{name: "no-newline-refused", line: `{"v":2,"user":"alice"}`, wantErr: "newline"},
		{name: "two-lines-refused", line: `{"v":2,"user":"alice"}` + "\n\n", wantErr: "newline"},
		{name: "two-objects-refused", line: `{"v":2,"user":"alice"}{"v":2,"user":"bob"}` + "\n", wantErr: "after the JSON object"},
		{name: "array-refused", line: `[{"v":2,"user":"alice"}]` + "\n", wantErr: "not a JSON object"},
		{name: "null-refused", line: "null\n", wantErr: "not a JSON object"},
		{name: "oversize-refused", line: `{"v":2,"user":"` + strings.Repeat("a", MaxRequest) + `"}` + "\n", wantErr: "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.line))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodeRequest: got (%+v, %v); want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DecodeRequest (-want +got):\n%s", diff)
			}
			line, err := EncodeRequest(got)
			if err != nil {
				t.Fatalf("EncodeRequest: %v", err)
			}
			if again, err := DecodeRequest(line); err != nil || again != got {
				t.Errorf("re-encoded request decodes to (%+v, %v); want %+v", again, err, got)
			}
		})
	}
}

func TestEncodeRequestRefusesWhatServerWould(t *testing.T) {
	for _, req := range []Request{{User: ""}, {User: "a/b"}, {User: "alice", Fingerprint: "MD5:zz"}} {
		if line, err := EncodeRequest(req); err == nil {
			t.Errorf("EncodeRequest(%+v) = %q; want an error", req, line)
		}
	}
}

func TestResultRoundTrip(t *testing.T) {
	k1, k2 := testkit.Key(t, ""), testkit.Key(t, "")
	rejected := []keys.Rejected{
		{Block: 0, Reason: keys.ReasonExpired, Detail: "expired at 2024-01-01T00:00:00Z", Fingerprint: ssh.FingerprintSHA256(k2), Caller: "c", RequestID: "r0"},
		{Block: 3, Reason: keys.ReasonBadSignature, Detail: "signature does not verify"},
	}
	tests := []struct {
		name string
		res  lookup.Result
		err  error
	}{
		{name: "verified-with-keys-and-rejections", res: lookup.Result{Outcome: lookup.Verified, User: "alice",
			Accepted: []keys.Accepted{acceptedFor(k1, 1), acceptedFor(k2, 2)}, Rejected: rejected}},
		{name: "verified-nothing-accepted", res: lookup.Result{Outcome: lookup.Verified, User: "alice", Rejected: rejected}},
		{name: "no-such-user", res: lookup.Result{Outcome: lookup.NoSuchUser, User: "bob"}},
		{name: "not-ec2-keeps-detail", res: lookup.Result{Outcome: lookup.NotEC2, User: "bob", Detail: "no /sys/hypervisor/uuid"}},
		{name: "no-keys", res: lookup.Result{Outcome: lookup.NoKeys, User: "alice@corp.example"}},
		{name: "no-candidates", res: lookup.Result{Outcome: lookup.NoCandidates, User: "alice", Rejected: rejected[:1]}},
		{name: "failed-keeps-error-and-rejections", res: lookup.Result{User: "alice", Rejected: []keys.Rejected{
			{Block: 0, Reason: keys.ReasonUntrustedSigner, Detail: "untrusted signer: staple-revoked"}}},
			err: errors.New("untrusted signer: staple-revoked")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := DecodeResponse(mustJSON(t, FromResult(tc.res, tc.err)))
			if err != nil {
				t.Fatalf("DecodeResponse: %v", err)
			}
			got, gotErr := resp.Result()
			if diff := cmp.Diff(tc.res, got, resultOpts); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
			if got.Lines() != tc.res.Lines() {
				t.Errorf("Lines: got %q; want %q", got.Lines(), tc.res.Lines())
			}
			switch {
			case tc.err == nil && gotErr != nil:
				t.Errorf("Result error: got %v; want none", gotErr)
			case tc.err != nil && (gotErr == nil || gotErr.Error() != tc.err.Error()):
				t.Errorf("Result error: got %v; want %q", gotErr, tc.err)
			case gotErr != nil && (errors.Is(gotErr, ErrInvalidResponse) || errors.Is(gotErr, ErrRefused)):
				t.Errorf("Result error %v is marked invalid or refused; want the lookup's own error", gotErr)
			}
		})
	}
}

func TestResultRefusesOutOfShapeAnswers(t *testing.T) {
	k := testkit.Key(t, "")
	good := func() Response {
		return FromResult(lookup.Result{Outcome: lookup.Verified, User: "alice", Accepted: []keys.Accepted{acceptedFor(k, 0)}}, nil)
	}
	withLine := func(line string) Response {
		r := good()
		r.Accepted[0].Line = line
		return r
	}
	cert := userCert(t, k)
	tests := []struct {
		name string
		resp Response
	}{
		{"key-with-options", withLine(`command="/bin/sh" ` + testkit.Line(k))},
		{"key-with-from-option", withLine(`from="10.0.0.1" ` + testkit.Line(k))},
		{"key-with-comment", withLine(testkit.Line(k) + " alice@laptop")},
		{"key-with-double-space", withLine(strings.Replace(testkit.Line(k), " ", "  ", 1))},
		{"key-with-leading-space", withLine(" " + testkit.Line(k))},
		{"key-with-trailing-newline", withLine(testkit.Line(k) + "\n")},
		{"two-keys-in-one-line", withLine(testkit.Line(k) + "\n" + testkit.Line(testkit.Key(t, "")))},
		{"key-garbage", withLine("ssh-ed25519 AAAAnotakey")},
		{"key-empty", withLine("")},
		{"certificate", func() Response {
			r := withLine(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert))))
			r.Accepted[0].Fingerprint = ssh.FingerprintSHA256(cert)
			return r
		}()},
		{"fingerprint-not-the-keys", func() Response {
			r := good()
			r.Accepted[0].Fingerprint = ssh.FingerprintSHA256(testkit.Key(t, ""))
			return r
		}()},
		{"no-expiry", func() Response { r := good(); r.Accepted[0].Expires = 0; return r }()},
		{"keys-in-failed-answer", func() Response { r := good(); r.Verdict, r.Error = VerdictFailed, "imds: boom"; return r }()},
		{"keys-in-no-keys-answer", func() Response { r := good(); r.Outcome = lookup.NoKeys; return r }()},
		{"unknown-outcome", func() Response { r := good(); r.Outcome = lookup.Outcome(42); return r }()},
		{"failed-without-error", Response{V: Version, Verdict: VerdictFailed, User: "alice", Outcome: lookup.Verified}},
		{"bad-user", func() Response { r := good(); r.User = "../root"; return r }()},
		{"rejection-without-reason", func() Response {
			r := good()
			r.Rejected = []RejectedBlock{{Block: 1}}
			return r
		}()},
		{"wrong-version", func() Response { r := good(); r.V = 1; return r }()},
	}
	for _, tc := range tests {
		t.Run(tc.name+"-refused", func(t *testing.T) {
			res, err := tc.resp.Result()
			if !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("Result: got error %v; want ErrInvalidResponse", err)
			}
			if res.Lines() != "" {
				t.Errorf("Result of a refused answer has lines %q; want none", res.Lines())
			}
		})
	}
}

func TestAnswersChecksTheRequest(t *testing.T) {
	k := testkit.Key(t, "")
	resp := FromResult(lookup.Result{Outcome: lookup.Verified, User: "alice", Accepted: []keys.Accepted{acceptedFor(k, 0)}}, nil)
	tests := []struct {
		name    string
		req     Request
		invalid bool
	}{
		{"same-user-accepted", Request{User: "alice"}, false},
		{"requested-key-accepted", Request{User: "alice", Fingerprint: ssh.FingerprintSHA256(k)}, false},
		{"requested-key-by-md5-accepted", Request{User: "alice", Fingerprint: "MD5:" + ssh.FingerprintLegacyMD5(k)}, false},
		{"other-user-refused", Request{User: "bob"}, true},
		{"other-key-refused", Request{User: "alice", Fingerprint: ssh.FingerprintSHA256(testkit.Key(t, ""))}, true},
		{"expired-key-refused", Request{User: "alice", Fingerprint: "expired"}, true},
	}
	expired := acceptedFor(k, 0)
	expired.Expires = time.Now().Add(-time.Second)
	stale := FromResult(lookup.Result{Outcome: lookup.Verified, User: "alice", Accepted: []keys.Accepted{expired}}, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, req := resp, tc.req
			if req.Fingerprint == "expired" {
				r, req = stale, Request{User: "alice"}
			}
			res, err := r.answers(req)
			if got := errors.Is(err, ErrInvalidResponse); got != tc.invalid {
				t.Fatalf("answers: error %v; want invalid=%v", err, tc.invalid)
			}
			if !tc.invalid && res.Lines() != testkit.Line(k)+"\n" {
				t.Errorf("Lines: got %q; want %q", res.Lines(), testkit.Line(k)+"\n")
			}
		})
	}
}

func TestRefusalIsNotAVerdict(t *testing.T) {
	_, err := Refusal("", "busy").Result()
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("Result of a refusal: got %v; want ErrRefused mentioning busy", err)
	}
}

func TestDecodeResponseIsStrict(t *testing.T) {
	tests := []struct{ name, data string }{
		{"unknown-field", `{"v":2,"verdict":"decided","user":"alice","outcome":"no-keys","grant":"all"}`},
		{"old-failed-flag", `{"v":2,"verdict":"decided","user":"alice","outcome":"no-keys","failed":false}`},
		{"unknown-verdict", `{"v":2,"verdict":"granted","user":"alice","outcome":"no-keys"}`},
		{"unknown-outcome", `{"v":2,"verdict":"decided","user":"alice","outcome":"granted"}`},
		{"wrong-version", `{"v":1,"user":"alice","verdict":"decided","outcome":"no-keys"}`},
		{"missing-version", `{"verdict":"decided","user":"alice","outcome":"no-keys"}`},
		{"trailing-data", `{"v":2,"verdict":"decided","user":"alice","outcome":"no-keys"} {}`},
		{"truncated", `{"v":2,"user":"alice","outcome":"no-k`},
		{"not-an-object", `"ssh-ed25519 AAAA"`},
		{"oversize", `{"v":2,"detail":"` + strings.Repeat("x", MaxResponse) + `"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name+"-refused", func(t *testing.T) {
			if r, err := DecodeResponse([]byte(tc.data)); !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("DecodeResponse: got (%+v, %v); want ErrInvalidResponse", r, err)
			}
		})
	}
}

// userCert returns an OpenSSH user certificate for k, signed by a fresh CA.
func userCert(t *testing.T, k ssh.PublicKey) *ssh.Certificate {
	t.Helper()
	_, caKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: k, CertType: ssh.UserCert, ValidPrincipals: []string{"alice"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		t.Fatal(err)
	}
	return cert
}
