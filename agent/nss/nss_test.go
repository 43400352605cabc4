package nss

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// fakeGetent writes a /bin/sh script standing in for getent.
func fakeGetent(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "getent")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func systemGetent(t *testing.T) string {
	t.Helper()
	p, err := resolve("")
	if err != nil {
		t.Skipf("no system getent: %v", err)
	}
	return p
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestUserExistsSystemGetent(t *testing.T) {
	systemGetent(t)
	tests := []struct {
		name string
		user string
		want bool
	}{
		{"root-exists", "root", true},
		{"random-name-does-not-exist", "eic-no-such-user-7f3a9c", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UserExists(testContext(t), Config{}, tc.user)
			if err != nil {
				t.Fatalf("UserExists(%q): %v", tc.user, err)
			}
			if got != tc.want {
				t.Errorf("UserExists(%q) = %v, want %v", tc.user, got, tc.want)
			}
		})
	}
}

func TestUserExistsFakeGetent(t *testing.T) {
	t.Setenv("EIC_NSS_TEST_SECRET", "must-not-leak")
	tests := []struct {
		name    string
		script  string
		want    bool
		wantErr string // substring; "" means no error
	}{
		{"entry-for-user-exists", `echo "alice:x:1000:1000::/home/alice:/bin/sh"`, true, ""},
		{"exit-2-does-not-exist", `exit 2`, false, ""},
		{"exit-1-is-error", `exit 1`, false, "exit status 1"},
		{"exit-3-is-error", `exit 3`, false, "exit status 3"},
		{"other-name-is-error", `echo "Alice:x:1000:1000::/home/alice:/bin/sh"`, false, `answered for user "Alice"`},
		{"prefix-name-is-error", `echo "alicex:x:1000:1000::/:/bin/sh"`, false, `answered for user "alicex"`},
		{"empty-output-is-error", `exit 0`, false, "no passwd entry"},
		{"only-first-line-counts", `printf 'bob:x:1:1::/:/bin/sh\nalice:x:2:2::/:/bin/sh\n'`, false, `answered for user "bob"`},
		{"stderr-ignored", `echo noise >&2; echo "alice:x:1000:1000::/:/bin/sh"`, true, ""},
		{"arguments-are-passwd-dashdash-user",
			`[ "$#" = 3 ] && [ "$1" = passwd ] && [ "$2" = -- ] && [ "$3" = alice ] || exit 9
echo "alice:x:1:1::/:/bin/sh"`, true, ""},
		{"environment-is-empty", // the shell itself sets PWD
			`[ -z "$(/usr/bin/env -u PWD)" ] || exit 9
echo "alice:x:1:1::/:/bin/sh"`, true, ""},
		{"stdin-is-empty",
			`[ -z "$(/bin/cat)" ] || exit 9
echo "alice:x:1:1::/:/bin/sh"`, true, ""},
		{"endless-output-refused", `exec /usr/bin/yes "alice:x:1:1::/:/bin/sh"`, false, "output larger than 65536 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getent := fakeGetent(t, tc.script)
			got, err := UserExists(testContext(t), Config{Getent: getent}, "alice")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("UserExists = %v, %v; want error containing %q", got, err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), getent) {
					t.Errorf("error %q does not name the getent used (%s)", err, getent)
				}
				if got {
					t.Errorf("UserExists = true alongside error %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("UserExists: %v", err)
			}
			if got != tc.want {
				t.Errorf("UserExists = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUserExistsRefusesBadNames(t *testing.T) {
	// The fake getent leaves a mark if it is ever run.
	dir := t.TempDir()
	mark := filepath.Join(dir, "ran")
	getent := fakeGetent(t, "echo > "+mark+"\nexit 0")
	tests := []struct{ name, user string }{
		{"empty-refused", ""},
		{"leading-dash-refused", "-n"},
		{"double-dash-refused", "--"},
		{"colon-refused", "a:b"},
		{"slash-refused", "../root"},
		{"space-refused", "a b"},
		{"tab-refused", "a\tb"},
		{"newline-refused", "a\nb"},
		{"nul-refused", "a\x00b"},
		{"del-refused", "a\x7fb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, g := range []string{getent, None} {
				got, err := UserExists(testContext(t), Config{Getent: g}, tc.user)
				if err == nil || got {
					t.Errorf("UserExists(getent %s, %q) = %v, %v; want false and an error", g, tc.user, got, err)
				}
			}
		})
	}
	if _, err := os.Stat(mark); err == nil {
		t.Errorf("getent was run for a refused name")
	}
}

func TestUserExistsConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "getent")
	tests := []struct {
		name    string
		getent  string
		want    bool
		wantErr string
	}{
		{"none-mode-skips-check", None, true, ""},
		{"missing-getent-is-error", missing, false, missing},
		{"relative-getent-is-error", "getent", false, "must be an absolute path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UserExists(testContext(t), Config{Getent: tc.getent}, "eic-no-such-user-7f3a9c")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("UserExists = %v, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("UserExists = %v, %v; want %v, nil", got, err, tc.want)
			}
		})
	}
}

func TestUserExistsCancelled(t *testing.T) {
	getent := fakeGetent(t, "exec /bin/sleep 60")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := UserExists(ctx, Config{Getent: getent}, "alice")
	if err == nil || got || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("UserExists with cancelled context = %v, %v; want false and a context error", got, err)
	}
}

// TestGetentLeavesNothingBehind runs getents that start a child which ignores SIGTERM and
// sleeps, the way a wedged NSS helper would: whether getent hangs past the deadline or answers
// and exits, the child must not outlive the call.
func TestGetentLeavesNothingBehind(t *testing.T) {
	tests := []struct {
		name     string
		script   string // PIDFILE is replaced with the file the child's pid goes to
		deadline time.Duration
		want     bool
		wantErr  string
	}{
		{"hung-getent-killed-with-its-children-at-deadline", `trap '' TERM
/bin/sleep 1000 &
echo $! > PIDFILE
wait`, 2 * time.Second, false, "deadline"},
		{"answering-getent-children-killed", `trap '' TERM
/bin/sleep 1000 &
echo $! > PIDFILE
echo "alice:x:1:1::/:/bin/sh"`, 30 * time.Second, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "child.pid")
			getent := fakeGetent(t, strings.ReplaceAll(tc.script, "PIDFILE", pidfile))
			ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
			defer cancel()
			got, err := UserExists(ctx, Config{Getent: getent}, "alice")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("UserExists: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("UserExists error = %v, want one mentioning %q", err, tc.wantErr)
			case got != tc.want:
				t.Errorf("UserExists = %v, want %v", got, tc.want)
			}
			data, err := os.ReadFile(pidfile)
			if err != nil {
				t.Fatalf("the fake getent never started its child: %v", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatalf("child pid %q: %v", data, err)
			}
			// SIGKILL was sent before UserExists returned; the kernel finishes the child off
			// asynchronously, so poll for it to be gone.
			waitGone(t, pid)
		})
	}
}

// waitGone waits until pid no longer runs (gone, or a zombie waiting for its new parent), and
// kills it should the wait fail.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	t.Cleanup(func() {
		if !testkit.ProcessGone(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	testkit.WaitFor(t, fmt.Sprintf("getent's child %d to be gone after the call returned", pid), func() bool {
		return testkit.ProcessGone(pid)
	})
}
