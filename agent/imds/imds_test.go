package imds

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

const (
	tokenPath = emulator.TokenPath
	meta      = emulator.MetaPrefix
)

func pushKey(t *testing.T, e *emulator.Emulator, user string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	if _, err := e.Push(emulator.Push{OSUser: user, PublicKey: line}); err != nil {
		t.Fatal(err)
	}
	return line
}

func TestHappyPath(t *testing.T) {
	f := newFixture(t, emulator.Config{InstanceID: "i-0abcdef1234567890", Region: "us-west-2",
		Zone: "us-west-2-lax-1a"}, nil)
	key := pushKey(t, f.emu, "ec2-user")
	p := f.emu.PKI()
	c := f.client(Config{})
	ctx := deadline(t, 10*time.Second)
	str := func(fn func(context.Context) (string, error)) func() (any, error) {
		return func() (any, error) { return fn(ctx) }
	}
	byts := func(fn func() ([]byte, error)) func() (any, error) {
		return func() (any, error) { b, err := fn(); return string(b), err }
	}
	tests := []struct {
		name string
		call func() (any, error)
		want any
		path string
	}{
		{"instance-id", str(c.InstanceID), "i-0abcdef1234567890", meta + "instance-id"},
		{"region", str(c.Region), "us-west-2", meta + "placement/region"},
		{"local-zone", str(c.Zone), "us-west-2-lax-1a", meta + "placement/availability-zone"},
		{"domain", str(c.Domain), "amazonaws.com", meta + "services/domain"},
		{"signer-chain", byts(func() ([]byte, error) { return c.SignerChain(ctx) }), string(p.ChainPEM(false)),
			meta + "managed-ssh-keys/signer-cert"},
		{"staple-names", func() (any, error) { return c.StapleNames(ctx) },
			[]string{pki.StapleName(p.Signer.Cert), pki.StapleName(p.Intermediate.Cert)},
			meta + "managed-ssh-keys/signer-ocsp"},
		{"generic-get", byts(func() ([]byte, error) { return c.Get(ctx, "placement/region/") }), "us-west-2",
			meta + "placement/region"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.emu.Count(tc.path)
			got, err := tc.call()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("value (-want +got):\n%s", diff)
			}
			if n := f.emu.Count(tc.path) - before; n != 1 {
				t.Fatalf("%s requested %d times, want 1", tc.path, n)
			}
		})
	}
	t.Run("keys", func(t *testing.T) {
		body, err := c.Keys(ctx, "ec2-user")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), "\n"+key+"\n") {
			t.Fatalf("bundle does not hold the pushed key:\n%s", body)
		}
	})
	t.Run("staple", func(t *testing.T) {
		body, err := c.Staple(ctx, pki.StapleName(p.Signer.Cert))
		if err != nil {
			t.Fatal(err)
		}
		if len(body) == 0 || strings.ContainsAny(string(body), "\n ") {
			t.Fatalf("staple body %q is not one base64 line", body)
		}
	})
	t.Run("one-token-for-all-calls", func(t *testing.T) {
		calls := len(tests) + 2
		if got := f.emu.Count(tokenPath); got != 1 {
			t.Errorf("token PUTs = %d, want 1", got)
		}
		if got, want := f.emu.Total(), 1+calls; got != want {
			t.Errorf("total requests = %d, want %d (one token + one per call): %v", got, want, f.emu.Counts())
		}
	})
}

func TestPathsSent(t *testing.T) {
	f := newFixture(t, emulator.Config{}, nil)
	pushKey(t, f.emu, "alice")
	c := f.client(Config{})
	ctx := deadline(t, 10*time.Second)
	if _, err := c.Keys(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InstanceID(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"PUT " + tokenPath,
		"GET " + meta + "managed-ssh-keys/active-keys/alice/", // upstream sends the slash too
		"GET " + meta + "instance-id",
	}
	if diff := cmp.Diff(want, f.rawPaths()); diff != "" {
		t.Fatalf("requests (-want +got):\n%s", diff)
	}
}

func TestNotFound(t *testing.T) {
	f := newFixture(t, emulator.Config{}, nil)
	c := f.client(Config{})
	ctx := deadline(t, 10*time.Second)
	t.Run("keys-without-keys-is-ErrNotFound", func(t *testing.T) {
		body, err := c.Keys(ctx, "nobody")
		if err != ErrNotFound || body != nil {
			t.Fatalf("Keys = %q, %v; want nil, ErrNotFound", body, err)
		}
	})
	t.Run("unknown-path-is-404-error", func(t *testing.T) {
		_, err := c.Get(ctx, "iam/info")
		var ie *Error
		if !errors.As(err, &ie) || ie.Status != 404 || !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %#v, want *Error with status 404 matching ErrNotFound", err)
		}
		if got, want := err.Error(), "imds GET meta-data/iam/info: HTTP 404"; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
	})
	t.Run("404-not-retried", func(t *testing.T) {
		if got := f.emu.Count(meta + "managed-ssh-keys/active-keys/nobody"); got != 1 {
			t.Fatalf("keys requested %d times, want 1", got)
		}
	})
}

func TestConcurrentCallsShareOneToken(t *testing.T) {
	f := newFixture(t, emulator.Config{}, nil)
	c := f.client(Config{})
	ctx := deadline(t, 10*time.Second)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, err := c.InstanceID(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := f.emu.Count(tokenPath); got != 1 {
		t.Errorf("token PUTs = %d, want 1", got)
	}
	if got := f.emu.Count(meta + "instance-id"); got != n {
		t.Errorf("instance-id GETs = %d, want %d", got, n)
	}
}

func TestExpiredTokenRefetched(t *testing.T) {
	f := newFixture(t, emulator.Config{}, nil)
	c := f.client(Config{})
	ctx := deadline(t, 10*time.Second)
	if _, err := c.InstanceID(ctx); err != nil {
		t.Fatal(err)
	}
	// The SDK asks for 300s tokens and trusts its own clock; the emulator's moves past that,
	// so the cached token answers 401 and the SDK's second attempt fetches a new one.
	f.clock.Advance(301 * time.Second)
	id, err := c.InstanceID(ctx)
	if err != nil {
		t.Fatalf("after the token expired: %v", err)
	}
	if id != emulator.DefaultInstanceID {
		t.Fatalf("id = %q, want %q", id, emulator.DefaultInstanceID)
	}
	want := map[string]int{tokenPath: 2, meta + "instance-id": 3}
	if diff := cmp.Diff(want, f.emu.Counts()); diff != "" {
		t.Fatalf("counts (-want +got):\n%s", diff)
	}
}

func TestEnvironmentIgnored(t *testing.T) {
	f := newFixture(t, emulator.Config{}, nil)
	for _, kv := range [][2]string{
		{"AWS_EC2_METADATA_DISABLED", "true"},
		{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://192.0.2.1"},
		{"AWS_EC2_METADATA_V1_DISABLED", "false"},
		{"HTTP_PROXY", "http://192.0.2.1:3128"},
		{"http_proxy", "http://192.0.2.1:3128"},
	} {
		t.Setenv(kv[0], kv[1])
	}
	c := f.client(Config{})
	if _, err := c.InstanceID(deadline(t, 10*time.Second)); err != nil {
		t.Fatalf("with hostile environment: %v", err)
	}
	// Go never proxies loopback, so the request above cannot prove the proxy is ignored.
	tr := newHTTPClient(time.Second, 1).Transport.(*capTransport).next.(*http.Transport)
	if tr.Proxy != nil {
		t.Fatal("transport has a proxy function")
	}
}

func TestBadArgumentsSendNothing(t *testing.T) {
	f := newFixture(t, emulator.Config{}, nil)
	c := f.client(Config{})
	ctx := deadline(t, 10*time.Second)
	tests := []struct {
		name string
		call func() error
	}{
		{"user-with-slash", func() error { _, err := c.Keys(ctx, "a/../b"); return err }},
		{"user-too-long", func() error { _, err := c.Keys(ctx, strings.Repeat("u", 33)); return err }},
		{"empty-user", func() error { _, err := c.Keys(ctx, ""); return err }},
		{"staple-name-traversal", func() error { _, err := c.Staple(ctx, "../../user-data"); return err }},
		{"staple-name-short", func() error { _, err := c.Staple(ctx, "ABCDEF"); return err }},
		{"path-traversal", func() error { _, err := c.Get(ctx, "../user-data"); return err }},
		{"path-absolute", func() error { _, err := c.Get(ctx, "/instance-id"); return err }},
		{"path-with-query", func() error { _, err := c.Get(ctx, "instance-id?x=1"); return err }},
		{"path-empty", func() error { _, err := c.Get(ctx, ""); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrBadArgument) {
				t.Fatalf("err = %v, want ErrBadArgument", err)
			}
		})
	}
	if got := f.emu.Total(); got != 0 {
		t.Fatalf("%d requests sent for bad arguments, want 0", got)
	}
}

func TestInvalidEndpoint(t *testing.T) {
	for _, ep := range []string{"169.254.169.254", "ftp://169.254.169.254", "http://169.254.169.254/latest", "http://u:p@host", "http://"} {
		t.Run(ep, func(t *testing.T) {
			_, err := New(Config{Endpoint: ep}).InstanceID(context.Background())
			if err == nil || !strings.Contains(err.Error(), "invalid endpoint") {
				t.Fatalf("err = %v, want an invalid endpoint error", err)
			}
		})
	}
}
