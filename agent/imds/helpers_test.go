package imds

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

var sharedPKI = sync.OnceValues(func() (*pki.PKI, error) { return pki.New(pki.Options{}) })

type fixture struct {
	emu   *emulator.Emulator
	srv   *httptest.Server
	clock *testkit.Clock
	mu    sync.Mutex
	paths []string // raw request paths, in arrival order
}

func (f *fixture) rawPaths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

// newFixture serves an emulator on a real listener. wrap, when set, may answer a request
// itself (returning true) before the emulator sees it.
func newFixture(t *testing.T, cfg emulator.Config, wrap func(http.ResponseWriter, *http.Request) bool) *fixture {
	t.Helper()
	p, err := sharedPKI()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: testkit.NewClock(time.Now())}
	if cfg.PKI == nil {
		cfg.PKI = p
	}
	if cfg.Now == nil {
		cfg.Now = f.clock.Now
	}
	f.emu, err = emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.paths = append(f.paths, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		if wrap != nil && wrap(w, r) {
			return
		}
		f.emu.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	t.Cleanup(f.emu.Close) // runs first, releasing hung handlers
	return f
}

func (f *fixture) client(cfg Config) *Client {
	cfg.Endpoint = f.srv.URL
	return New(cfg)
}

// deadline is the overall budget a caller would give one login.
func deadline(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
