package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"v":2,"user":"alice"}` + "\n",
		`{"v":2,"user":"ec2-user","fingerprint":"SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}` + "\n",
		`{"v":2,"user":"a","fingerprint":"MD5:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"}` + "\n",
		`{"v":2,"user":"alice","x":1}` + "\n",
		`{"v":2.0,"user":"alice"}` + "\n",
		`{"V":1,"USER":"alice"}` + "\n",
		`{"v":2,"user":"alice","user":"root"}` + "\n",
		`{"v":2,"user":"al\u0000ice"}` + "\n",
		"{}\n", "\n", "null\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := DecodeRequest(line)
		if err != nil {
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("DecodeRequest accepted %q, which does not validate: %v", line, err)
		}
		again, err := EncodeRequest(req)
		if err != nil {
			t.Fatalf("EncodeRequest(%+v): %v", req, err)
		}
		if back, err := DecodeRequest(again); err != nil || back != req {
			t.Fatalf("request %+v re-decodes to (%+v, %v)", req, back, err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	// A fixed key keeps the corpus deterministic.
	k, err := ssh.ParsePublicKey(mustKeyBytes())
	if err != nil {
		f.Fatal(err)
	}
	acc := keys.Accepted{Line: testkit.Line(k), Key: k, Fingerprint: ssh.FingerprintSHA256(k), InstanceID: "i-0123456789abcdef0",
		Caller: "arn:aws:iam::1:user/a", RequestID: "r", Expires: time.Unix(1_900_000_000, 0)}
	for _, r := range []Response{
		FromResult(lookup.Result{Outcome: lookup.Verified, User: "alice", Accepted: []keys.Accepted{acc},
			Rejected: []keys.Rejected{{Block: 1, Reason: keys.ReasonExpired, Detail: "d"}}}, nil),
		FromResult(lookup.Result{Outcome: lookup.NotEC2, User: "alice", Detail: "xen"}, nil),
		FromResult(lookup.Result{User: "alice"}, errors.New("imds: 500")),
		Refusal("", "busy"),
	} {
		f.Add(mustJSON(f, r))
	}
	f.Add([]byte(`{"v":2,"user":"alice","verdict":"decided","outcome":"verified","accepted":[{"line":"command=\"x\" ` + testkit.Line(k) +
		`","fingerprint":"` + ssh.FingerprintSHA256(k) + `","instance_id":"i-1","expires":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := DecodeResponse(data)
		if err != nil {
			return
		}
		res, err := resp.Result()
		if errors.Is(err, ErrInvalidResponse) || errors.Is(err, ErrRefused) {
			return
		}
		// Whatever passes is safe for sshd: bare canonical keys, one per line.
		for _, a := range res.Accepted {
			if strings.ContainsAny(a.Line, "\r\n\x00") || a.Line != testkit.Line(a.Key) {
				t.Fatalf("accepted line %q is not a canonical key", a.Line)
			}
		}
		if n := strings.Count(res.Lines(), "\n"); n != len(res.Accepted) {
			t.Fatalf("Lines has %d lines for %d keys", n, len(res.Accepted))
		}
		again := FromResult(res, err)
		res2, err2 := again.Result()
		if res2.Lines() != res.Lines() || (err == nil) != (err2 == nil) {
			t.Fatalf("answer does not survive a round trip: %q/%v vs %q/%v", res.Lines(), err, res2.Lines(), err2)
		}
	})
}

// mustKeyBytes is a fixed ed25519 public key in wire form.
func mustKeyBytes() []byte {
	var pub [32]byte
	copy(pub[:], bytes.Repeat([]byte{7}, 32))
	return ssh.Marshal(struct {
		Type string
		Key  []byte
	}{ssh.KeyAlgoED25519, pub[:]})
}
