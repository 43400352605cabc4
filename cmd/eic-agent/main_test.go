package main

// End-to-end tests of the built binary: arguments, environment and signals in; sd_notify
// messages, socket answers, log lines and exit status out, against the emulator.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
	"github.com/eic-agent/eic-agent/agent/wire"
)

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"version", []string{"version"}, 0, "eic-agent dev\n", ""},
		{"no-command-is-usage", nil, 2, "", "usage: eic-agent run"},
		{"unknown-command-is-usage", []string{"serve"}, 2, "", `unknown command "serve"`},
		{"extra-argument-is-usage", []string{"run", "extra"}, 2, "", "usage: eic-agent run"},
		{"missing-explicit-config", []string{"run", "--config", "/nonexistent/eic-agent.toml"}, 2, "", "configuration error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binPath, tc.args...)
			cmd.Env = []string{}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if tc.wantStdout != "" && stdout.String() != tc.wantStdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr does not contain %q; got:\n%s", tc.wantStderr, stderr.String())
			}
		})
	}
}

// TestUnusableServiceUserRefused: a service account that other programs may run as (nobody, a
// shared uid) would let them serve keys to the helper, so the service refuses to start with it
// and says how to fix it, in one line.
func TestUnusableServiceUserRefused(t *testing.T) {
	tests := []struct {
		name, user, want string
	}{
		// The log quotes the error as a field: the account name's quotes are escaped there.
		{"nobody-refused", "nobody", `nobody\": uid 65534 is the shared nobody account`},
		{"missing-account-refused", "eic-no-such-user", `eic-no-such-user\": no such account in /etc/passwd`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.user == "nobody" {
				if _, err := user.Lookup("nobody"); err != nil {
					t.Skipf("no nobody account here: %v", err)
				}
			}
			dir := t.TempDir()
			cfg := filepath.Join(dir, "config.toml")
			text := fmt.Sprintf("[log]\ntarget = \"stderr\"\n[service]\nsocket = %q\nuser = %q\n", filepath.Join(dir, "agent.sock"), tc.user)
			if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binPath, "run", "--config", cfg)
			cmd.Env = []string{}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("eic-agent run: %v; want exit status 2\nstderr:\n%s", err, stderr.String())
			}
			line := lastLine(stderr.String())
			if !strings.Contains(line, tc.want) || !strings.Contains(line, "create a dedicated account") {
				t.Errorf("last line of stderr %q; want one line containing %q and the fix", line, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "agent.sock")); err == nil {
				t.Error("the socket was created although the service refused to start")
			}
		})
	}
}

// TestSocketPathTakenRefused: the service never serves on a path something else holds, and
// never removes what it did not create; it exits 1 (systemd retries) and says why, in one line.
func TestSocketPathTakenRefused(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    string
	}{
		{"regular-file-left-alone", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("not a socket"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "a regular file is in the way"},
		{"live-socket-not-taken", func(t *testing.T, path string) {
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
		}, "another eic-agent is serving on it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if err := os.MkdirAll(filepath.Dir(f.socket), 0o755); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, f.socket)
			before, err := os.Lstat(f.socket)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binPath, "run", "--config", f.config)
			cmd.Env = []string{}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err = cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("eic-agent run: %v; want exit status 1\nstderr:\n%s", err, stderr.String())
			}
			if line := lastLine(stderr.String()); !strings.Contains(line, tc.want) {
				t.Errorf("last line of stderr %q; want it to contain %q", line, tc.want)
			}
			if !strings.Contains(stderr.String(), "cannot start: no socket to serve") {
				t.Errorf("no log line saying the service cannot start; stderr:\n%s", stderr.String())
			}
			after, err := os.Lstat(f.socket)
			if err != nil || !os.SameFile(before, after) {
				t.Errorf("what was at the socket path was replaced or removed: %v", err)
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestLifecycle runs the service as systemd would with Type=notify and WatchdogSec: ready once
// it serves, watchdog pings, reloads (a bad config kept out), a clean stop on SIGTERM.
func TestLifecycle(t *testing.T) {
	f := newFixture(t)
	n := newNotifier(t, f.dir)
	p := start(t, []string{"NOTIFY_SOCKET=" + n.path, "WATCHDOG_USEC=200000"}, binPath, "run", "--config", f.config)

	t.Run("ready-once-serving", func(t *testing.T) {
		n.expect(t, "READY=1")
		f.mustServe(t, f.push(t))
	})
	t.Run("watchdog-pings", func(t *testing.T) {
		n.expect(t, "WATCHDOG=1")
		p.waitLog(t, "systemd watchdog enabled")
	})
	t.Run("bad-config-reload-keeps-running-config", func(t *testing.T) {
		good, err := os.ReadFile(f.config)
		if err != nil {
			t.Fatal(err)
		}
		f.write(t, "config.toml", string(good)+"\nbogus = 1\n")
		p.signal(t, syscall.SIGHUP)
		n.expect(t, "RELOADING=1")
		n.expect(t, "READY=1")
		p.waitLog(t, "configuration reload failed; keeping the running configuration")
		f.mustServe(t, f.push(t))
		f.write(t, "config.toml", string(good))
	})
	t.Run("good-config-reload-applies", func(t *testing.T) {
		p.signal(t, syscall.SIGHUP)
		n.expect(t, "READY=1")
		p.waitLog(t, "configuration reloaded")
		f.mustServe(t, f.push(t))
	})
	t.Run("sigterm-stops-cleanly", func(t *testing.T) {
		p.signal(t, syscall.SIGTERM)
		n.expect(t, "STOPPING=1")
		if code := p.wait(t); code != 0 {
			t.Errorf("exit status %d after SIGTERM, want 0", code)
		}
		if _, err := os.Lstat(f.socket); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket the service created is left behind: %v", err)
		}
	})
}

func TestWatchdogPidOfAnotherProcessIgnored(t *testing.T) {
	f := newFixture(t)
	n := newNotifier(t, f.dir)
	// WATCHDOG_PID names another process: the pings are not ours to send.
	p := start(t, []string{"NOTIFY_SOCKET=" + n.path, "WATCHDOG_USEC=200000", "WATCHDOG_PID=1"}, binPath, "run", "--config", f.config)
	n.expect(t, "READY=1")
	f.mustServe(t, f.push(t))
	p.signal(t, syscall.SIGTERM)
	seen := n.expect(t, "STOPPING=1")
	if slices.Contains(seen, "WATCHDOG=1") {
		t.Errorf("watchdog pings sent although WATCHDOG_PID is another process: %q", seen)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if strings.Contains(p.stderr.String(), "watchdog enabled") {
		t.Error("watchdog enabled although WATCHDOG_PID is another process")
	}
}

func TestSocketActivation(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (package systemd); socket activation untested")
	}
	f := newFixture(t)
	if err := os.MkdirAll(filepath.Dir(f.socket), 0o755); err != nil {
		t.Fatal(err)
	}
	// systemd-socket-activate listens, then starts the service (same pid) on the first connection.
	p := start(t, nil, activate, "-l", f.socket, binPath, "run", "--config", f.config)
	// The socket file exists from bind(), before listen(): a connection in between is refused.
	// systemd-socket-activate logs "Listening on" once make_socket_fd has bound and listened.
	p.waitLog(t, "Listening on")
	f.mustServe(t, f.push(t))
	p.waitLog(t, "socket_activated=true")
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
}

// TestStopMidRequest stops the service while a login waits on a hung IMDS: the service exits
// promptly and cleanly, and the helper's lookup falls back to direct verification.
func TestStopMidRequest(t *testing.T) {
	tests := []struct {
		name     string
		sig      syscall.Signal
		wantCode int
	}{
		{"sigterm-exits-zero", syscall.SIGTERM, 0},
		{"sigkill-leaves-restartable-socket", syscall.SIGKILL, -int(syscall.SIGKILL)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.slowIMDS(t)
			n := newNotifier(t, f.dir)
			p := start(t, []string{"NOTIFY_SOCKET=" + n.path}, binPath, "run", "--config", f.config)
			n.expect(t, "READY=1")
			p.waitLog(t, "signer verified")
			fp := f.push(t)
			f.emu.SetFaults(emulator.Faults{Hang: true})

			// The helper falls back to direct verification exactly when Ask gives no verdict.
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_, err := wire.Ask(ctx, f.socket, wire.Request{User: testUser, Fingerprint: fp}, wire.ClientOptions{TrustedUser: f.user})
				done <- err
			}()
			testkit.WaitFor(t, "the login to reach IMDS", func() bool {
				return f.emu.Count(testkit.KeysPath(testUser)) > 0
			})
			p.signal(t, tc.sig)
			if code := p.wait(t); code != tc.wantCode {
				t.Errorf("exit status %d, want %d", code, tc.wantCode)
			}
			if err := <-done; !errors.Is(err, wire.ErrNoVerdict) {
				t.Errorf("login during the stop: Ask error %v, want no verdict so the helper verifies directly", err)
			}
			if tc.sig != syscall.SIGKILL {
				return
			}
			// systemd restarts a killed service: the stale socket must not stop it.
			f.emu.SetFaults(emulator.Faults{})
			n2 := newNotifier(t, t.TempDir())
			start(t, []string{"NOTIFY_SOCKET=" + n2.path}, binPath, "run", "--config", f.config)
			n2.expect(t, "READY=1")
			f.mustServe(t, f.push(t))
		})
	}
}
