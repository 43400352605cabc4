package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
)

func authorizedKey(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(k)), "\n")
}

func ed25519Key(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return authorizedKey(t, pub)
}

func ecdsaKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return authorizedKey(t, &k.PublicKey)
}

const keysPath = MetaPrefix + "managed-ssh-keys/active-keys/"

func TestPushValidation(t *testing.T) {
	e, _, _ := start(t, Config{})
	ed := ed25519Key(t)
	tests := []struct {
		name string
		push Push
		ok   bool
	}{
		{"ed25519-accepted", Push{OSUser: "ec2-user", PublicKey: ed}, true},
		{"ed25519-with-comment-accepted", Push{OSUser: "ec2-user", PublicKey: ed + " alice@laptop"}, true},
		{"rsa-accepted", Push{OSUser: "ec2-user", PublicKey: authorizedKey(t, &testPKI(t).SignerKey().PublicKey)}, true},
		{"ecdsa-accepted-beyond-the-service", Push{OSUser: "ec2-user", PublicKey: ecdsaKey(t)}, true},
		{"other-instance-accepted", Push{InstanceID: "i-0fedcba9876543210", OSUser: "ec2-user", PublicKey: ed}, true},
		{"user-with-at-dot-dollar-accepted", Push{OSUser: "a.b@c$", PublicKey: ed}, true},
		{"user-of-32-characters-accepted", Push{OSUser: strings.Repeat("u", 32), PublicKey: ed}, true},
		{"user-of-33-characters-refused", Push{OSUser: strings.Repeat("u", 33), PublicKey: ed}, false},
		{"empty-user-refused", Push{OSUser: "", PublicKey: ed}, false},
		{"user-starting-with-digit-refused", Push{OSUser: "1user", PublicKey: ed}, false},
		{"user-with-slash-refused", Push{OSUser: "a/b", PublicKey: ed}, false},
		{"user-with-dollar-inside-refused", Push{OSUser: "a$b", PublicKey: ed}, false},
		{"short-instance-id-refused", Push{InstanceID: "i-0123456", OSUser: "u", PublicKey: ed}, false},
		{"long-instance-id-refused", Push{InstanceID: "i-" + strings.Repeat("0", 31), OSUser: "u", PublicKey: ed}, false},
		{"uppercase-instance-id-refused", Push{InstanceID: "i-0123456789ABCDEF0", OSUser: "u", PublicKey: ed}, false},
		{"key-under-80-characters-refused", Push{OSUser: "u", PublicKey: ed[:79]}, false},
		{"key-over-4096-characters-refused", Push{OSUser: "u", PublicKey: ed + " " + strings.Repeat("c", 4096)}, false},
		{"key-that-does-not-parse-refused", Push{OSUser: "u", PublicKey: "ssh-ed25519 " + strings.Repeat("A", 80)}, false},
		{"key-with-options-refused", Push{OSUser: "u", PublicKey: `command="/bin/sh" ` + ed}, false},
		{"key-with-newline-refused", Push{OSUser: "u", PublicKey: ed + "\n" + ed}, false},
		{"extra-line-without-hash-refused", Push{OSUser: "u", PublicKey: ed, Extra: []string{"Name=x"}}, false},
		{"caller-with-newline-refused", Push{OSUser: "u", PublicKey: ed, Caller: "a\n#Instance=i-1"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := e.Push(tc.push)
			if tc.ok {
				if err != nil {
					t.Fatalf("Push: %v, want success", err)
				}
				if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
					t.Fatalf("request id %q is not a UUIDv4", id)
				}
				return
			}
			if !errors.Is(err, ErrInvalidArgs) {
				t.Fatalf("Push error = %v, want ErrInvalidArgs", err)
			}
		})
	}
}

// parsedBlock splits one served block into metadata, key and signature.
type parsedBlock struct {
	meta []string
	key  string
	sig  []string
}

func parseBlocks(t *testing.T, body string) []parsedBlock {
	t.Helper()
	var out []parsedBlock
	for _, text := range strings.Split(body, "\n\n") {
		var b parsedBlock
		for _, line := range strings.Split(text, "\n") {
			switch {
			case b.key == "" && strings.HasPrefix(line, "#"):
				b.meta = append(b.meta, line)
			case b.key == "":
				b.key = line
			default:
				b.sig = append(b.sig, line)
			}
		}
		out = append(out, b)
	}
	return out
}

func (b parsedBlock) verify(t *testing.T, pub *rsa.PublicKey) {
	t.Helper()
	sig, err := base64.StdEncoding.DecodeString(strings.Join(b.sig, ""))
	if err != nil {
		t.Fatalf("signature is not base64: %v", err)
	}
	h := sha256.Sum256([]byte(strings.Join(append(append([]string{}, b.meta...), b.key), "\n") + "\n"))
	if err := rsa.VerifyPSS(pub, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
}

func TestPushServesSignedBlock(t *testing.T) {
	e, srv, clk := start(t, Config{})
	key := ed25519Key(t)
	id, err := e.Push(Push{OSUser: "alice", PublicKey: key, Caller: "arn:aws:iam::111122223333:user/alice",
		Extra: []string{"#Future=yes"}, WrapSignature: 76})
	if err != nil {
		t.Fatal(err)
	}
	a := get(t, srv, keysPath+"alice/")
	if a.status != 200 {
		t.Fatalf("status = %d, want 200", a.status)
	}
	blocks := parseBlocks(t, a.body)
	if len(blocks) != 1 {
		t.Fatalf("got %d blocks, want 1:\n%s", len(blocks), a.body)
	}
	b := blocks[0]
	want := []string{
		"#Timestamp=" + strconv.FormatInt(clk.Now().Add(60*time.Second).Unix(), 10),
		"#Instance=" + DefaultInstanceID,
		"#Caller=arn:aws:iam::111122223333:user/alice",
		"#Request=" + id,
		"#Future=yes",
	}
	if diff := cmp.Diff(want, b.meta); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if b.key != key {
		t.Errorf("key line = %q, want %q", b.key, key)
	}
	if len(b.sig) < 2 {
		t.Errorf("signature has %d lines, want it wrapped", len(b.sig))
	}
	for _, l := range b.sig {
		if len(l) > 76 {
			t.Errorf("signature line of %d columns, want <= 76", len(l))
		}
	}
	b.verify(t, &e.PKI().SignerKey().PublicKey)
}

func TestPushedBlocksJoinAndExpire(t *testing.T) {
	e, srv, clk := start(t, Config{})
	first, second := ed25519Key(t), ed25519Key(t)
	if _, err := e.Push(Push{OSUser: "bob", PublicKey: first}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	if _, err := e.Push(Push{OSUser: "bob", PublicKey: second, TTL: 90 * time.Second}); err != nil {
		t.Fatal(err)
	}
	keysAt := func(t *testing.T) []string {
		t.Helper()
		a := get(t, srv, keysPath+"bob")
		if a.status == http.StatusNotFound {
			return nil
		}
		var keys []string
		for _, b := range parseBlocks(t, a.body) {
			b.verify(t, &e.PKI().SignerKey().PublicKey)
			keys = append(keys, b.key)
		}
		return keys
	}
	steps := []struct {
		name    string
		advance time.Duration // from the first push
		want    []string
	}{
		{"both-served-in-push-order", 30 * time.Second, []string{first, second}},
		{"expired-block-still-served-within-a-minute", 119 * time.Second, []string{first, second}},
		{"expired-block-dropped-after-a-minute", 121 * time.Second, []string{second}},
		{"none-left-not-found", 181 * time.Second, nil},
	}
	elapsed := 30 * time.Second
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clk.Advance(st.advance - elapsed)
			elapsed = st.advance
			if diff := cmp.Diff(st.want, keysAt(t)); diff != "" {
				t.Fatalf("served keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSignBlockAndRawKeys(t *testing.T) {
	e, srv, _ := start(t, Config{})
	key := ed25519Key(t)
	text, err := e.SignBlock([]string{"#Instance=" + DefaultInstanceID, key})
	if err != nil {
		t.Fatal(err)
	}
	blocks := parseBlocks(t, text)
	if len(blocks) != 1 || len(blocks[0].meta) != 1 || blocks[0].key != key || len(blocks[0].sig) != 1 {
		t.Fatalf("SignBlock made an unexpected block:\n%s", text)
	}
	blocks[0].verify(t, &e.PKI().SignerKey().PublicKey)

	if _, err := e.Push(Push{OSUser: "carol", PublicKey: key}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		raw    []byte
		status int
		body   string
	}{
		{"raw-served-verbatim", []byte(text + "\r\n"), 200, text + "\r\n"},
		{"empty-raw-served-empty", []byte{}, 200, ""},
		{"nil-removes-override", nil, 200, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.SetRawKeys("carol", st.raw)
			a := get(t, srv, keysPath+"carol/")
			if a.status != st.status {
				t.Fatalf("status = %d, want %d", a.status, st.status)
			}
			if st.raw == nil {
				if !strings.Contains(a.body, key) || a.body == text {
					t.Fatalf("after removing the override, body = %q, want the pushed block", a.body)
				}
				return
			}
			if diff := cmp.Diff(st.body, a.body); diff != "" {
				t.Fatalf("body (-want +got):\n%s", diff)
			}
		})
	}
}
