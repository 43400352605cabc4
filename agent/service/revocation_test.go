package service

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/signer"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// imdsTap stands between the service and the emulator and can fail chosen paths, as an IMDS
// that answers some requests and not others. Every request still reaches the emulator, so its
// counters see them all.
type imdsTap struct {
	next http.Handler

	mu   sync.Mutex
	fail string // a path prefix answered 503 Service Unavailable, when set
}

func (t *imdsTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	fail := t.fail
	t.mu.Unlock()
	if fail == "" {
		t.next.ServeHTTP(w, r) // untouched, so connection faults still work
		return
	}
	rec := httptest.NewRecorder()
	t.next.ServeHTTP(rec, r)
	code, body := rec.Code, rec.Body.Bytes()
	if strings.HasPrefix(r.URL.Path, fail) {
		code, body = http.StatusServiceUnavailable, nil
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func (t *imdsTap) failPrefix(prefix string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fail = prefix
}

// stapleReads is what one read of the staples costs: the listing and each staple.
func (f *fixture) stapleReads() map[string]int {
	p := f.emu.PKI()
	return map[string]int{
		staplesPath: 1,
		staplesPath + "/" + pki.StapleName(p.Signer.Cert):       1,
		staplesPath + "/" + pki.StapleName(p.Intermediate.Cert): 1,
	}
}

// dueNow reports whether the maintainer's timer would have fired by now.
func (f *fixture) dueNow() bool {
	d, ok := f.svc.nextRefresh(0)
	return ok && d == 0
}

// refusesAll asserts that no key is granted for user, whichever key is asked about.
func (f *fixture) refusesAll(t *testing.T, fps map[string]*keys.Fingerprint) {
	t.Helper()
	for name, fp := range fps {
		res, err := f.lookup(testUser, fp)
		if err == nil || len(res.Accepted) != 0 {
			t.Errorf("%s: %d keys accepted, err %v; want none and an error", name, len(res.Accepted), err)
		}
		for _, r := range res.Rejected {
			if r.Reason != keys.ReasonUntrustedSigner {
				t.Errorf("%s: block %d rejected for %q, want %q", name, r.Block, r.Reason, keys.ReasonUntrustedSigner)
			}
		}
	}
}

func TestRevocationStopsEveryGrantWithinTheWindow(t *testing.T) {
	const window = 20 * time.Second
	tests := []struct {
		name string
		// after runs once the window has passed since IMDS began serving the revoked staple.
		after func(t *testing.T, f *fixture)
	}{
		{"login-waits-for-the-overdue-check", func(*testing.T, *fixture) {}},
		{"background-check-finds-it", func(t *testing.T, f *fixture) {
			if !f.dueNow() {
				t.Error("the maintainer would not have woken for the revocation check by now")
			}
			if err := f.svc.keepWarm(context.Background(), false); !isDecision(err) {
				t.Errorf("background check: err = %v, want a refusal", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{revocationCheck: window, keyMemory: time.Minute})
			f.warm()
			remembered := f.push(testUser, time.Hour)
			f.login(testUser, remembered)

			// Within the window a login reads no staple: only the user's keys.
			f.emu.ResetCounts()
			const n = 3
			for range n {
				f.clk.Advance(window / 5)
				f.login(testUser, f.push(testUser, time.Hour))
			}
			if diff := cmp.Diff(map[string]int{keysPath: n}, f.emu.Counts()); diff != "" {
				t.Errorf("IMDS requests for %d logins within the window (-want +got):\n%s", n, diff)
			}

			f.emu.RevokeSigner()
			f.clk.Advance(window)
			tc.after(t, f)
			f.refusesAll(t, map[string]*keys.Fingerprint{
				"key remembered from before the revocation": remembered,
				"key pushed after the revocation":           f.push(testUser, time.Hour),
				"query without a fingerprint":               nil,
			})
			testkit.WaitFor(t, `a "signer verification failed" log line`, f.logged("signer verification failed"))
		})
	}
}

func TestBackgroundWork(t *testing.T) {
	const window = time.Minute
	tests := []struct {
		name     string
		setup    setup
		advance  time.Duration
		renew    bool   // IMDS serves renewed staples before the work
		chain    int    // signer-cert requests expected besides the staple reads
		wantLog  string // logged by the work
		avoidLog string // never logged by it
	}{
		{"unchanged-staples-cost-only-their-reads", setup{}, window - window/10, false, 0,
			"signer staples unchanged", "signer re-verified"},
		{"renewed-staples-verified-at-once", setup{}, window - window/10, true, 1,
			"signer re-verified", "signer staples unchanged"},
		// signer_max_age 1h, re-verified 5 minutes ahead.
		{"full-verification-when-max-age-near", setup{maxAge: time.Hour}, 55 * time.Minute, false, 1,
			"signer re-verified", "signer staples unchanged"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup.revocationCheck = window
			f := newFixture(t, tc.setup)
			f.warm()
			f.clk.Advance(tc.advance)
			if !f.dueNow() {
				t.Fatal("the maintainer would not have woken by now")
			}
			// The emulator's tokens expire on its clock: renew the client's now, so that what
			// follows is counted without the 401 and retry of an expired one.
			if _, err := f.svc.direct.IMDS().Get(context.Background(), "instance-id"); err != nil {
				t.Fatal(err)
			}
			if tc.renew {
				f.emu.RenewStaples()
			}
			f.emu.ResetCounts()
			if err := f.svc.keepWarm(context.Background(), false); err != nil {
				t.Fatalf("background work: %v", err)
			}
			want := f.stapleReads()
			if tc.chain > 0 {
				want[chainPath] = tc.chain
			}
			if diff := cmp.Diff(want, f.emu.Counts()); diff != "" {
				t.Errorf("IMDS requests for the background work (-want +got):\n%s", diff)
			}
			// The flight logs its verdict just after it hands the verdict over.
			testkit.WaitFor(t, "a "+strconv.Quote(tc.wantLog)+" log line", f.logged(tc.wantLog))
			if f.logged(tc.avoidLog)() {
				t.Errorf("want no %q log line", tc.avoidLog)
			}
			if f.dueNow() {
				t.Error("the maintainer would wake again at once: a tight loop")
			}
			// The read moved the window: a login well past the warm-up's read costs its key
			// fetch only.
			f.clk.Advance(window / 2)
			f.emu.ResetCounts()
			f.login(testUser, f.push(testUser, 0))
			if diff := cmp.Diff(map[string]int{keysPath: 1}, f.emu.Counts()); diff != "" {
				t.Errorf("IMDS requests for a login after the background work (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOverdueCheckThatFailsGrantsNothing(t *testing.T) {
	const window = 10 * time.Second
	tests := []struct {
		name string
		fail func(f *fixture)
		heal func(f *fixture)
	}{
		{"staples-unreachable", func(f *fixture) { f.tap.failPrefix(staplesPath) }, func(f *fixture) { f.tap.failPrefix("") }},
		{"imds-down", func(f *fixture) { f.emu.SetFaults(emulator.Faults{Status: http.StatusServiceUnavailable}) },
			func(f *fixture) { f.emu.SetFaults(emulator.Faults{}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{revocationCheck: window, keyMemory: time.Minute})
			f.warm()
			remembered := f.push(testUser, time.Hour)
			f.login(testUser, remembered)
			f.clk.Advance(window)
			tc.fail(f)
			for name, fp := range map[string]*keys.Fingerprint{
				"key remembered before the check was due": remembered,
				"key pushed while the check is overdue":   f.push(testUser, time.Hour),
			} {
				if res, err := f.lookup(testUser, fp); err == nil || len(res.Accepted) != 0 {
					t.Errorf("%s: %d keys accepted, err %v; want none and an error", name, len(res.Accepted), err)
				}
			}
			// Once IMDS answers again, so does the service.
			tc.heal(f)
			f.login(testUser, f.push(testUser, time.Hour))
		})
	}
}

func TestFresh(t *testing.T) {
	now := time.Now()
	f := newFixture(t, setup{revocationCheck: time.Minute})
	tests := []struct {
		name    string
		checked time.Time
		want    bool
	}{
		{"just-read", now, true},
		{"read-within-the-window", now.Add(-59 * time.Second), true},
		{"window-reached", now.Add(-time.Minute), false},
		{"never-read", time.Time{}, false},
		// A clock set back must not stretch the window: the read counts as overdue.
		{"clock-went-back", now.Add(time.Second), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &signerEntry{sg: &signer.Signer{}, checked: tc.checked}
			if got := f.svc.fresh(e, now); got != tc.want {
				t.Errorf("fresh = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOverdueCheckSharedByConcurrentLogins: logins that find the check overdue together wait
// for one read of the staples, not one each.
func TestOverdueCheckSharedByConcurrentLogins(t *testing.T) {
	const window, n = 10 * time.Second, 8
	f := newFixture(t, setup{revocationCheck: window})
	f.warm()
	fps := make([]*keys.Fingerprint, n)
	for i := range fps {
		fps[i] = f.push(testUser, time.Hour)
	}
	f.clk.Advance(window)
	f.emu.ResetCounts()
	errs := make(chan error, n)
	for _, fp := range fps {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := f.svc.Answer(ctx, lookup.Query{User: testUser, Fingerprint: fp})
			if err == nil && !accepts(res, fp) {
				err = errors.New("key not accepted: " + res.Outcome.String())
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	got := f.emu.Counts()
	delete(got, keysPath) // shared or not, depending on how the requests interleave
	if diff := cmp.Diff(f.stapleReads(), got); diff != "" {
		t.Errorf("IMDS requests besides the key fetches for %d concurrent logins (-want +got):\n%s", n, diff)
	}
}
