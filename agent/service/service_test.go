package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

func TestWarmLoginsCostOneRequestEach(t *testing.T) {
	const n = 10
	tests := []struct {
		name string
		// between runs before each login and returns the key to log in with.
		between func(f *fixture, first *keys.Fingerprint) *keys.Fingerprint
	}{
		{"new-key-per-login", func(f *fixture, _ *keys.Fingerprint) *keys.Fingerprint {
			return f.push(testUser, 0)
		}},
		{"same-key-after-key-memory-expired", func(f *fixture, first *keys.Fingerprint) *keys.Fingerprint {
			f.clk.Advance(f.cfg.Service.KeyMemory.Duration + time.Second)
			return first
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The logins span 110s of the service's clock: a revocation check falls due in that
			// time, which the maintainer does in the background (TestBackgroundWork), not here.
			f := newFixture(t, setup{revocationCheck: 5 * time.Minute})
			first := f.push(testUser, time.Hour)
			f.warm()
			f.emu.ResetCounts()
			for range n {
				f.login(testUser, tc.between(f, first))
			}
			want := map[string]int{keysPath: n}
			if diff := cmp.Diff(want, f.emu.Counts()); diff != "" {
				t.Errorf("IMDS requests for %d logins (-want +got):\n%s", n, diff)
			}
		})
	}
}

func TestSignedAttemptFromMemoryRunsNoGetent(t *testing.T) {
	// A getent that knows every user and counts its runs.
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	getent := filepath.Join(dir, "getent")
	script := "#!/bin/sh\necho x >> " + calls + "\necho \"$3:x:1000:1000::/home/$3:/bin/sh\"\n"
	if err := os.WriteFile(getent, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 3
	f := newFixture(t, setup{getent: getent})
	f.warm()
	for range n {
		f.login(testUser, f.push(testUser, 0)) // a query and a signed attempt each
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(b), "x"); got != n {
		t.Fatalf("getent ran %d times for %d logins; want %d (the query only)", got, n, n)
	}
}

func TestPushedKeyNeverMissed(t *testing.T) {
	tests := []struct {
		name string
		fp   func(pushed *keys.Fingerprint) *keys.Fingerprint
	}{
		{"new-fingerprint-fetches", func(p *keys.Fingerprint) *keys.Fingerprint { return p }},
		{"no-fingerprint-fetches", func(*keys.Fingerprint) *keys.Fingerprint { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{keyMemory: time.Minute})
			f.warm()
			first := f.push(testUser, 0)
			f.login(testUser, first)
			pushed := f.push(testUser, 0)
			f.emu.ResetCounts()
			res, err := f.lookup(testUser, tc.fp(pushed))
			if err != nil {
				t.Fatal(err)
			}
			if !accepts(res, pushed) {
				t.Errorf("key pushed after the last answer not served; accepted %d keys, rejected %v", len(res.Accepted), reasons(res))
			}
			if got := f.emu.Count(keysPath); got != 1 {
				t.Errorf("key bundle fetched %d times, want 1", got)
			}
		})
	}
}

func TestKeyPushedWhileFetchInFlightNeverMissed(t *testing.T) {
	f := newFixture(t, setup{gated: true})
	first := f.push(testUser, 0)
	f.warm()
	type answer struct {
		res lookup.Result
		err error
	}
	ask := func(fp *keys.Fingerprint) chan answer {
		ch := make(chan answer, 1)
		go func() {
			res, err := f.svc.Answer(context.Background(), lookup.Query{User: testUser, Fingerprint: fp})
			ch <- answer{res, err}
		}()
		return ch
	}
	a := ask(first)
	<-f.arrived // the first fetch is at IMDS, before the push below
	pushed := f.push(testUser, 0)
	b := ask(pushed)
	testkit.WaitFor(t, "the second request to join the fetch in flight", f.loggedTimes("sharing the key fetch in flight", 1))
	close(f.gate)
	for name, c := range map[string]struct {
		ch chan answer
		fp *keys.Fingerprint
	}{"first": {a, first}, "pushed-during-fetch": {b, pushed}} {
		got := <-c.ch
		if got.err != nil || !accepts(got.res, c.fp) {
			t.Errorf("%s: key not served (err %v, rejected %v)", name, got.err, reasons(got.res))
		}
	}
	if got := f.emu.Count(keysPath); got != 2 {
		t.Errorf("key bundle fetched %d times, want 2 (the shared fetch predates the push)", got)
	}
}

func TestConcurrentRequestsShareOneFetch(t *testing.T) {
	const n = 5
	f := newFixture(t, setup{gated: true})
	fp := f.push(testUser, 0)
	f.warm()
	f.emu.ResetCounts()
	errs := make(chan error, n)
	for range n {
		go func() {
			res, err := f.svc.Answer(context.Background(), lookup.Query{User: testUser, Fingerprint: fp})
			if err == nil && !accepts(res, fp) {
				err = fmt.Errorf("key not served (rejected %v)", reasons(res))
			}
			errs <- err
		}()
	}
	<-f.arrived
	testkit.WaitFor(t, "every request to join the fetch", f.loggedTimes("sharing the key fetch in flight", n-1))
	close(f.gate)
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := f.emu.Count(keysPath); got != 1 {
		t.Errorf("%d concurrent requests fetched the bundle %d times, want 1", n, got)
	}
}

func TestTokenExpiryHandled(t *testing.T) {
	tests := []struct {
		name   string
		expire func(f *fixture)
	}{
		{"tokens-dropped", func(f *fixture) { f.emu.DropTokens() }},
		// The SDK asks for 5-minute tokens and times them on the real clock; the emulator's clock
		// running ahead makes IMDS refuse a token the client still believes in.
		{"token-ttl-passed", func(f *fixture) { f.clk.Advance(6 * time.Minute) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{})
			fp := f.push(testUser, time.Hour)
			f.warm()
			tc.expire(f)
			f.emu.ResetCounts()
			f.login(testUser, fp)
			if got := f.emu.Count(tokenPath); got != 1 {
				t.Errorf("token fetched %d times, want 1", got)
			}
		})
	}
}

func TestExpiredKeyNeverServedFromMemory(t *testing.T) {
	f := newFixture(t, setup{keyMemory: time.Minute})
	f.warm()
	fp := f.push(testUser, 5*time.Second)
	f.login(testUser, fp)
	f.clk.Advance(6 * time.Second)
	for _, q := range []*keys.Fingerprint{fp, nil} {
		res, err := f.lookup(testUser, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Accepted) != 0 {
			t.Errorf("lookup(%v): expired key served", q)
		}
		if !slices.Contains(reasons(res), keys.ReasonExpired) {
			t.Errorf("lookup(%v): rejections %v, want %q", q, reasons(res), keys.ReasonExpired)
		}
	}
}

func TestOutcomesWithoutKeys(t *testing.T) {
	tests := []struct {
		name      string
		setup     setup
		prepare   func(f *fixture)
		want      lookup.Outcome
		wantTotal int
	}{
		{"not-ec2-asks-nothing", setup{notEC2: true}, func(*fixture) {}, lookup.NotEC2, 0},
		{"no-keys", setup{}, func(*fixture) {}, lookup.NoKeys, 1},
		{"expired-only-no-candidates", setup{}, func(f *fixture) { f.push(testUser, -time.Second) }, lookup.NoCandidates, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.setup)
			f.warm()
			tc.prepare(f)
			f.emu.ResetCounts()
			res, err := f.lookup(testUser, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.want {
				t.Errorf("outcome %s, want %s", res.Outcome, tc.want)
			}
			if got := f.emu.Total(); got != tc.wantTotal {
				t.Errorf("%d IMDS requests, want %d", got, tc.wantTotal)
			}
		})
	}
}

func TestIdentityFetchedOnceRetriedAfterFailure(t *testing.T) {
	f := newFixture(t, setup{})
	fp := f.push(testUser, 0)
	f.emu.SetFaults(emulator.Faults{Status: 500})
	if _, err := f.lookup(testUser, fp); err == nil {
		t.Fatal("lookup with IMDS failing: no error")
	}
	f.emu.SetFaults(emulator.Faults{})
	f.login(testUser, fp)
	f.emu.ResetCounts()
	f.login(testUser, f.push(testUser, 0))
	if got := f.emu.Count("/latest/meta-data/instance-id"); got != 0 {
		t.Errorf("instance id fetched %d times once known, want 0", got)
	}
}

func TestLookupAfterCloseFails(t *testing.T) {
	f := newFixture(t, setup{})
	fp := f.push(testUser, 0)
	_ = f.svc.Close()
	if _, err := f.lookup(testUser, fp); !errors.Is(err, errClosed) {
		t.Errorf("lookup after Close: err = %v, want %v", err, errClosed)
	}
}
