package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/wire"
)

// TestJunkBlocksDoNotCostTheGrant is the attack on the size of the service's answer: 1 MiB of
// junk blocks, each with long unverified claims, in front of one good block. Copied whole, the
// rejections made an answer the service could not send, and every login fell back to direct.
// The good key must still be granted through the service, and the junk only counted.
func TestJunkBlocksDoNotCostTheGrant(t *testing.T) {
	f := newFixture(t, setup{})
	f.warm()
	path := serveSocket(t, f)

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	expires := strconv.FormatInt(f.clk.Now().Add(time.Hour).Unix(), 10)
	good, err := f.emu.SignBlock([]string{"#Timestamp=" + expires, "#Instance=" + f.emu.InstanceID(),
		"#Caller=arn:aws:iam::123456789012:user/alice", "#Request=good-request", line})
	if err != nil {
		t.Fatal(err)
	}
	bundle := junkBundle(t, f.emu.InstanceID(), expires, line, 1<<20-len(good)-2) + "\n\n" + good
	if len(bundle) > int(f.cfg.IMDS.MaxResponseBytes) {
		t.Fatalf("bundle of %d bytes is over imds.max_response_bytes %d", len(bundle), f.cfg.IMDS.MaxResponseBytes)
	}
	f.emu.SetRawKeys(testUser, []byte(bundle))

	for _, phase := range []struct{ name, fp string }{
		{"query-without-fingerprint", ""},
		{"signed-attempt", ssh.FingerprintSHA256(key)},
	} {
		t.Run(phase.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := wire.Ask(ctx, path, wire.Request{User: testUser, Fingerprint: phase.fp},
				wire.ClientOptions{TrustedUser: currentUser(t), Timeout: 20 * time.Second})
			if err != nil {
				t.Fatalf("Ask: %v; want an answer through the service (no fallback to direct)", err)
			}
			res.Record(zap.New(core), err)
			if res.Lines() != line+"\n" {
				t.Fatalf("granted %q; want exactly the good key", res.Lines())
			}
			total := len(res.Rejected)
			for _, n := range res.RejectedMore {
				total += n
			}
			if len(res.Rejected) != wire.MaxRejectedItems || total != strings.Count(bundle, "\n\n") {
				t.Errorf("%d rejections itemised, %d in all; want %d and %d", len(res.Rejected), total,
					wire.MaxRejectedItems, strings.Count(bundle, "\n\n"))
			}
			if n := logs.FilterMessageSnippet("more EC2 Instance Connect keys for " + testUser).Len(); n != 1 {
				t.Errorf("%d records counting the rejections not itemised; want 1", n)
			}
		})
	}
	if n := f.logs.FilterMessageSnippet("cannot encode").Len(); n != 0 {
		t.Errorf("the service logged %d encoding failures", n)
	}
}

// junkBundle is about size bytes of blocks for this instance and key, unexpired, with badly
// signed bodies and long claims full of bytes JSON escapes.
func junkBundle(t *testing.T, instance, expires, keyLine string, size int) string {
	t.Helper()
	sig := make([]byte, 256)
	if _, err := rand.Read(sig); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; ; i++ {
		head := fmt.Sprintf("#Timestamp=%s\n#Instance=%s\n#Request=junk-%d\n#Caller=", expires, instance, i)
		tail := "\n" + keyLine + "\n" + base64.StdEncoding.EncodeToString(sig)
		block := head + strings.Repeat("<\"&", (1040-len(head)-len(tail))/3) + tail
		if b.Len()+len(block)+2 > size {
			break
		}
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(block)
	}
	return b.String()
}

// currentUser is the account the test (and so its service) runs as.
func currentUser(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	return u.Username
}
