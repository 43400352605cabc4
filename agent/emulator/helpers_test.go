package emulator

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// clock is the settable test clock for Config.Now.
type clock = testkit.Clock

func newClock() *clock { return testkit.NewClock(time.Unix(1_750_000_000, 0)) }

var sharedPKI = sync.OnceValues(func() (*pki.PKI, error) {
	return pki.New(pki.Options{Now: newClock().Now()})
})

// testPKI is one hierarchy for all tests of the package: RSA key generation is slow under -race.
func testPKI(t *testing.T) *pki.PKI {
	t.Helper()
	p, err := sharedPKI()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// start serves a new emulator on a real listener; cfg.Now defaults to a fresh test clock.
func start(t *testing.T, cfg Config) (*Emulator, *httptest.Server, *clock) {
	t.Helper()
	clk := newClock()
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	if cfg.PKI == nil && cfg.Region == "" && cfg.Domain == "" {
		cfg.PKI = testPKI(t)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	t.Cleanup(e.Close) // runs first: releases hung handlers so srv.Close can return
	return e, srv, clk
}

type answer struct {
	status int
	body   string
	header http.Header
}

// do sends one request with the given headers (pairs of name, value).
func do(t *testing.T, srv *httptest.Server, method, path string, headers ...string) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return answer{status: resp.StatusCode, body: string(body), header: resp.Header}
}

// token fetches a session token valid for ttl seconds.
func token(t *testing.T, srv *httptest.Server, ttl int) string {
	t.Helper()
	a := do(t, srv, http.MethodPut, TokenPath, TTLHeader, strconv.Itoa(ttl))
	if a.status != http.StatusOK || a.body == "" {
		t.Fatalf("token PUT: status %d body %q, want 200 and a token", a.status, a.body)
	}
	return a.body
}

// get fetches a metadata path with a fresh token.
func get(t *testing.T, srv *httptest.Server, path string) answer {
	t.Helper()
	return do(t, srv, http.MethodGet, path, TokenHeader, token(t, srv, 60))
}
