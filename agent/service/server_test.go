package service

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
	"github.com/eic-agent/eic-agent/agent/wire"
)

// serveSocket serves f.svc on a temp socket with the real wire server and returns its path.
func serveSocket(t testing.TB, f *fixture) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := create(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- wire.Serve(ctx, ln, f.svc.Handle, wire.ServerOptions{AllowedUIDs: []uint32{uint32(os.Getuid())}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return path
}

// query asks the service over its socket as the helper does; a failure to get a verdict fails
// the test, the service's own verdict error is returned.
func query(t testing.TB, path, user string, fp *keys.Fingerprint) (lookup.Result, error) {
	t.Helper()
	req := wire.Request{User: user}
	if fp != nil {
		req.Fingerprint = fp.String()
	}
	res, err := wire.Ask(context.Background(), path, req, wire.ClientOptions{
		ConnectTimeout: time.Second, Timeout: 10 * time.Second, TrustedUIDs: []uint32{uint32(os.Getuid())},
	})
	if errors.Is(err, wire.ErrNoVerdict) {
		t.Fatal(err)
	}
	return res, err
}

func TestQueryOverSocket(t *testing.T) {
	f := newFixture(t, setup{})
	f.warm()
	path := serveSocket(t, f)
	fp := f.push(testUser, 0)
	for _, phase := range []string{"query", "signed-attempt"} {
		t.Run(phase, func(t *testing.T) {
			res, err := query(t, path, testUser, fp)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Accepted) != 1 || !accepts(res, fp) {
				t.Fatalf("accepted %+v, want exactly the key %s", res.Accepted, fp)
			}
			a := res.Accepted[0]
			if a.RequestID == "" || a.Caller == "" || a.InstanceID != f.emu.InstanceID() || a.Expires.IsZero() {
				t.Errorf("audit fields missing from the answer: %+v", a)
			}
		})
	}
	if got := f.emu.Count(keysPath); got != 1 {
		t.Errorf("key bundle fetched %d times for one login, want 1", got)
	}
}

func TestClosedServiceAnswersWithoutVerdict(t *testing.T) {
	f := newFixture(t, setup{})
	f.warm()
	path := serveSocket(t, f)
	fp := f.push(testUser, 0)
	_ = f.svc.Close()
	_, err := wire.Ask(context.Background(), path, wire.Request{User: testUser, Fingerprint: fp.String()},
		wire.ClientOptions{TrustedUIDs: []uint32{uint32(os.Getuid())}})
	if !errors.Is(err, wire.ErrRefused) {
		t.Errorf("answer of a closed service: err = %v, want %v so the helper verifies directly", err, wire.ErrRefused)
	}
}

func TestNoGoroutineOrFDGrowth(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 requests; skipped in -short mode")
	}
	const n = 10000
	f := newFixture(t, setup{})
	f.warm()
	path := serveSocket(t, f)
	fp := f.push(testUser, time.Hour)
	// Even requests are signed attempts answered from memory, odd ones ask about a user without
	// keys, which costs an IMDS request every time.
	ask := func(i int) {
		user := testUser
		if i%2 == 1 {
			user = "nobody"
		}
		if _, err := query(t, path, user, fp); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	for i := range 100 {
		ask(i)
	}
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	for i := range n {
		ask(i)
	}
	testkit.WaitFor(t, "goroutines to return to their level before the requests", func() bool {
		return runtime.NumGoroutine() <= goroutines
	})
	testkit.WaitFor(t, "file descriptors to return to their level before the requests", func() bool {
		return openFDs(t) <= fds
	})
}

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

func TestListen(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr bool
	}{
		{"creates-socket", func(*testing.T, string) {}, false},
		{"replaces-stale-socket", func(t *testing.T, path string) {
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			l.SetUnlinkOnClose(false)
			_ = l.Close()
		}, false},
		{"refuses-live-socket", func(t *testing.T, path string) {
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
		}, true},
		{"leaves-regular-file-alone", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("not a socket"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.sock")
			tc.prepare(t, path)
			ln, activated, err := Listen(path)
			if tc.wantErr {
				if err == nil {
					_ = ln.Close()
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if activated {
				t.Error("activated = true without systemd")
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Mode().Perm(); got != SocketMode {
				t.Errorf("socket mode %04o, want %04o", got, SocketMode)
			}
			_ = ln.Close()
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("created socket left behind after close: %v", err)
			}
		})
	}
}

// BenchmarkWarmPath measures one answer from a warm service: "remembered" is sshd's signed
// attempt (answered from memory, no IMDS request), "fetched" is its query (one IMDS request to
// the emulator on loopback). "socket" includes the wire client and server.
func BenchmarkWarmPath(b *testing.B) {
	f := newFixture(b, setup{keyMemory: time.Minute})
	f.warm()
	path := serveSocket(b, f)
	fp := f.push(testUser, time.Hour)
	for _, mode := range []string{"remembered", "fetched"} {
		prepare := func() {
			if mode == "fetched" {
				f.svc.memory.forget()
			}
		}
		b.Run("lookup/"+mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				prepare()
				res, err := f.svc.Answer(context.Background(), lookup.Query{User: testUser, Fingerprint: fp})
				if err != nil || len(res.Accepted) != 1 {
					b.Fatalf("accepted %d, err %v", len(res.Accepted), err)
				}
			}
		})
		b.Run("socket/"+mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				prepare()
				if res, err := query(b, path, testUser, fp); len(res.Accepted) != 1 {
					b.Fatalf("accepted %d, error %v", len(res.Accepted), err)
				}
			}
		})
	}
}

// TestAnswerCarriesSignerFreshness: the answer tells eic-agent doctor when the signer was
// verified and its staples read (the service's clock), and says nothing before it has one.
func TestAnswerCarriesSignerFreshness(t *testing.T) {
	f := newFixture(t, setup{})
	path := serveSocket(t, f)
	ask := func() wire.Status {
		t.Helper()
		_, st, err := wire.AskWithStatus(context.Background(), path, wire.Request{User: "nobody-here"}, wire.ClientOptions{
			ConnectTimeout: time.Second, Timeout: 10 * time.Second, TrustedUIDs: []uint32{uint32(os.Getuid())},
		})
		if errors.Is(err, wire.ErrNoVerdict) {
			t.Fatal(err)
		}
		return st
	}
	if st := ask(); st != (wire.Status{}) {
		t.Errorf("status before any signer was verified: %+v, want none", st)
	}
	f.warm()
	st := ask()
	now := f.svc.now().Unix()
	if st.SignerVerified == 0 || st.StaplesRead == 0 || st.SignerVerified > now || st.StaplesRead > now {
		t.Errorf("status after warm-up: %+v, want both set and not after the service's now (%d)", st, now)
	}
}
