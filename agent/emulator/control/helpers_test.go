package control

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// sharedPKI is generated once: RSA key generation is slow under -race. RotateSigner never
// changes it.
var sharedPKI = sync.OnceValues(func() (*pki.PKI, error) { return pki.New(pki.Options{}) })

// fixture is an emulator with IMDS and the control API on two real listeners.
type fixture struct {
	emu   *emulator.Emulator
	imds  *httptest.Server
	ctl   *httptest.Server
	cl    *Client
	creds Credentials
	// clock is the control API's clock for X-Amz-Date: the real time, which is what the SDK
	// signs with, moved by Advance.
	clock *offsetClock
}

// offsetClock is the real clock moved by an offset. A frozen clock would not do: the SDK
// signs with the real time, which goes on while the test runs.
type offsetClock struct {
	mu sync.Mutex
	d  time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.d)
}

// Advance moves the clock by d (backwards when d is negative).
func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.d += d
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	creds, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureWith(t, creds)
}

// newFixtureWith starts a fixture whose SendSSHPublicKey checks signatures against creds.
func newFixtureWith(t *testing.T, creds Credentials) *fixture {
	t.Helper()
	p, err := sharedPKI()
	if err != nil {
		t.Fatal(err)
	}
	emu, err := emulator.New(emulator.Config{PKI: p})
	if err != nil {
		t.Fatal(err)
	}
	clock := &offsetClock{}
	h := NewHandler(emu, HandlerConfig{Credentials: creds, Now: clock.Now})
	f := &fixture{emu: emu, imds: httptest.NewServer(emu), ctl: httptest.NewServer(h), creds: creds, clock: clock}
	t.Cleanup(f.imds.Close)
	t.Cleanup(f.ctl.Close)
	t.Cleanup(emu.Close)
	f.cl = &Client{BaseURL: f.ctl.URL}
	return f
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// imdsGet fetches an IMDS path with a fresh token from the IMDS at base ("http://ADDR").
func imdsGet(t *testing.T, base, path string) (int, string) {
	t.Helper()
	ctx := testContext(t)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+emulator.TokenPath, nil)
	req.Header.Set(emulator.TTLHeader, "60")
	tok := mustDo(t, req)
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	req.Header.Set(emulator.TokenHeader, tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func mustDo(t *testing.T, req *http.Request) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d, error %v, want 200", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	return string(body)
}

// newKey writes a fresh Ed25519 public key file (with a comment) and returns its path and
// the key line without the comment.
func newKey(t *testing.T) (path, line string) {
	t.Helper()
	line = testkit.Line(testkit.Key(t, "ed25519"))
	path = filepath.Join(t.TempDir(), "id_ed25519.pub")
	if err := os.WriteFile(path, []byte(line+" alice@laptop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, line
}
