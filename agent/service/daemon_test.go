package service

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// loader is the injected ServeConfig.Load: each reload returns what the test set last.
type loader struct {
	mu  sync.Mutex
	cfg config.Config
	err error
}

func (l *loader) set(cfg config.Config, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg, l.err = cfg, err
}

func (l *loader) load() (config.Config, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg, l.err
}

// daemonRun is one Serve call on a socket of its own, as cmd/eic-agent makes it.
type daemonRun struct {
	path   string
	ln     *net.UnixListener
	reload chan os.Signal
	load   *loader
	logs   *observer.ObservedLogs
	stop   context.CancelFunc
	done   chan error
}

// startServe runs Serve with cfg until the test ends, and waits until it serves.
func startServe(t *testing.T, cfg config.Config) *daemonRun {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, activated, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	ctx, stop := context.WithCancel(context.Background())
	r := &daemonRun{path: path, ln: ln, reload: make(chan os.Signal, 1), load: &loader{cfg: cfg},
		logs: logs, stop: stop, done: make(chan error, 1)}
	go func() {
		r.done <- Serve(ctx, ServeConfig{
			Listener: ln, Activated: activated, Config: cfg, Log: zap.New(core),
			ClientUID: uint32(os.Getuid()), Reload: r.reload, Load: r.load.load,
			ConfigFile: "injected", Version: "test",
		})
	}()
	t.Cleanup(func() {
		stop()
		<-r.done
	})
	testkit.WaitFor(t, "Serve to serve", r.logged("eic-agent serving", 1))
	return r
}

func (r *daemonRun) logged(msg string, n int) func() bool {
	return func() bool { return r.logs.FilterMessage(msg).Len() >= n }
}

// reloadAndWait asks for a reload and waits for the nth log line msg, which that reload ends with.
func (r *daemonRun) reloadAndWait(t *testing.T, msg string) {
	t.Helper()
	n := r.logs.FilterMessage(msg).Len() + 1
	r.reload <- syscall.SIGHUP
	testkit.WaitFor(t, "log line "+msg, r.logged(msg, n))
}

// wait returns what Serve returned, or fails the test when it does not return in time.
func (r *daemonRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func accepted(t *testing.T, path string, fp *keys.Fingerprint) bool {
	t.Helper()
	res, err := query(t, path, testUser, fp)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	return accepts(res, fp)
}

// TestServeReload drives reloads through the injected loader: no configuration file is read.
func TestServeReload(t *testing.T) {
	first, second := newFixture(t, setup{}), newFixture(t, setup{})
	r := startServe(t, first.cfg)
	const failed, reloaded = "configuration reload failed; keeping the running configuration", "configuration reloaded"
	const restartOnly = "take effect at the next restart"

	t.Run("serves-the-start-config", func(t *testing.T) {
		if fp := first.push(testUser, 0); !accepted(t, r.path, fp) {
			t.Errorf("key pushed to the configured IMDS not accepted")
		}
	})
	t.Run("failed-load-keeps-running-config", func(t *testing.T) {
		r.load.set(config.Config{}, errors.New("config.toml: line 3: unknown key bogus"))
		r.reloadAndWait(t, failed)
		if fp := first.push(testUser, 0); !accepted(t, r.path, fp) {
			t.Errorf("key pushed to the configured IMDS not accepted after a failed reload")
		}
	})
	t.Run("refused-config-keeps-running-config", func(t *testing.T) {
		bad := second.cfg
		bad.Trust.CA = "relative/roots.pem"
		r.load.set(bad, nil)
		r.reloadAndWait(t, failed)
		if fp := first.push(testUser, 0); !accepted(t, r.path, fp) {
			t.Errorf("key pushed to the configured IMDS not accepted after a refused reload")
		}
	})
	t.Run("good-config-applies", func(t *testing.T) {
		r.load.set(second.cfg, nil)
		r.reloadAndWait(t, reloaded)
		if fp := second.push(testUser, 0); !accepted(t, r.path, fp) {
			t.Errorf("key pushed to the reloaded IMDS not accepted")
		}
		if fp := first.push(testUser, 0); accepted(t, r.path, fp) {
			t.Errorf("key pushed to the IMDS of the replaced config still accepted")
		}
		if e := r.logs.FilterMessage(reloaded).All()[0]; e.ContextMap()["config"] != "injected" {
			t.Errorf("reload logged config %v, want the ConfigFile given", e.ContextMap()["config"])
		}
		if n := r.logs.FilterMessageSnippet(restartOnly).Len(); n != 0 {
			t.Errorf("restart-only settings unchanged, yet warned %d times", n)
		}
	})
	t.Run("restart-only-change-warned", func(t *testing.T) {
		changed := second.cfg
		changed.Deadline.Duration = second.cfg.Deadline.Duration + time.Second
		r.load.set(changed, nil)
		r.reloadAndWait(t, reloaded)
		if n := r.logs.FilterMessageSnippet(restartOnly).Len(); n != 1 {
			t.Errorf("deadline changed at reload: warned %d times, want 1", n)
		}
	})
	t.Run("stop-is-clean", func(t *testing.T) {
		r.stop()
		if err := r.wait(t); err != nil {
			t.Errorf("Serve after a stop: %v, want nil", err)
		}
		if r.logs.FilterMessage("eic-agent stopped").Len() != 1 {
			t.Error("no \"eic-agent stopped\" log line")
		}
		if _, err := os.Lstat(r.path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("created socket left behind after the stop: %v", err)
		}
	})
}

func TestServeLosingTheSocketIsAnError(t *testing.T) {
	f := newFixture(t, setup{})
	r := startServe(t, f.cfg)
	_ = r.ln.Close()
	if err := r.wait(t); err == nil || !strings.Contains(err.Error(), "stopped serving: the socket was closed") {
		t.Errorf("Serve after its socket closed: %v, want an error saying so", err)
	}
	// The caller reports the returned error; a log line here too would print it twice.
	if n := r.logs.FilterLevelExact(zap.ErrorLevel).Len(); n != 0 {
		t.Errorf("Serve logged %d errors besides returning one; want 0", n)
	}
}

func TestServeRefusesToStart(t *testing.T) {
	good := config.Default()
	bad := config.Default()
	bad.Trust.CA = "relative/roots.pem"
	tests := []struct {
		name       string
		noListener bool
		sc         ServeConfig
		wantConfig bool // the error wraps ErrConfig (eic-agent exits 2)
	}{
		{"no-listener", true, ServeConfig{Config: good}, false},
		{"reload-without-loader", false, ServeConfig{Config: good, Reload: make(chan os.Signal)}, false},
		{"invalid-config-is-config-error", false, ServeConfig{Config: bad}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.sock")
			if !tc.noListener {
				ln, _, err := Listen(path)
				if err != nil {
					t.Fatal(err)
				}
				tc.sc.Listener = ln
			}
			err := Serve(context.Background(), tc.sc)
			if err == nil {
				t.Fatal("Serve started")
			}
			if got := errors.Is(err, ErrConfig); got != tc.wantConfig {
				t.Errorf("errors.Is(%v, ErrConfig) = %v, want %v", err, got, tc.wantConfig)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket left behind by a refused start: %v", err)
			}
		})
	}
}

// TestServeNotifies checks what systemd is told around an injected reload and a stop.
func TestServeNotifies(t *testing.T) {
	notify := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	t.Setenv("NOTIFY_SOCKET", notify)
	t.Setenv("WATCHDOG_USEC", "")
	f := newFixture(t, setup{})
	r := startServe(t, f.cfg)
	expect := func(want string) []string {
		t.Helper()
		var seen []string
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q (got %q): %v", want, seen, err)
			}
			lines := strings.Split(string(buf[:n]), "\n")
			seen = append(seen, lines...)
			if slices.Contains(lines, want) {
				return seen
			}
		}
	}
	expect("READY=1")
	r.load.set(config.Config{}, errors.New("unreadable"))
	r.reload <- syscall.SIGHUP
	expect("RELOADING=1")
	expect("READY=1") // also after a failed reload: the running config still serves
	r.stop()
	expect("STOPPING=1")
	if err := r.wait(t); err != nil {
		t.Errorf("Serve after a stop: %v", err)
	}
}
