package main

// How eic-agent behaves for a person trying it at a terminal: --help and --version on stdout,
// usage errors that say what is wrong, and each error printed once.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// runAgent runs the built eic-agent with an empty environment and returns stdout, stderr and
// the exit status.
func runAgent(t *testing.T, stderr *os.File, args ...string) (string, string, int) {
	t.Helper()
	// The safety timeout only stops a broken binary from hanging the suite.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = []string{}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stderr != nil {
		cmd.Stderr = stderr
	}
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errOut.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), 0
}

func TestHelpAndVersionOnStdout(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"version-command", []string{"version"}, "eic-agent dev\n"},
		{"version-flag", []string{"--version"}, "eic-agent dev\n"},
		{"help-command", []string{"help"}, "usage: eic-agent run"},
		{"help-flag", []string{"--help"}, "usage: eic-agent run"},
		{"short-help-flag", []string{"-h"}, "usage: eic-agent run"},
		{"run-help", []string{"run", "--help"}, "usage: eic-agent run"},
		{"run-short-help", []string{"run", "-h"}, "usage: eic-agent run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runAgent(t, nil, tc.args...)
			if code != 0 || !strings.HasPrefix(stdout, tc.want) || stderr != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0, stdout starting %q, nothing on stderr", code, stdout, stderr, tc.want)
			}
		})
	}
}

func TestUsageErrorsSaySo(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"run-extra-argument-named", []string{"run", "extra"}, `eic-agent run: too many arguments: ["extra"]`},
		{"run-unknown-flag-named", []string{"run", "--bogus"}, "flag provided but not defined: -bogus"},
		{"unknown-command-named", []string{"serve"}, `unknown command "serve"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runAgent(t, nil, tc.args...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2, nothing, and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

// TestEachErrorPrintedOnce: an error is either logged (once the logger exists) or printed
// (before), never both; on a terminal as well as to a pipe.
func TestEachErrorPrintedOnce(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badUser := write("bad-user.toml", fmt.Sprintf("[log]\ntarget = \"stderr\"\n[service]\nsocket = %q\nuser = \"eic-no-such-user\"\n",
		filepath.Join(dir, "agent.sock")))
	// The socket's directory is a regular file: Listen cannot create the socket there.
	blocked := write("blocked", "")
	noSocket := write("no-socket.toml", fmt.Sprintf("[log]\ntarget = \"stderr\"\n[service]\nsocket = %q\nuser = %q\n",
		filepath.Join(blocked, "agent.sock"), serviceUserName(t)))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"config-error-before-logging", []string{"run", "--config", filepath.Join(dir, "typo.toml")}, 2, "typo.toml: no such file or directory"},
		{"config-directory-in-words", []string{"run", "--config", dir}, 2, "is a directory, not a regular file"},
		{"service-user-refused-once", []string{"run", "--config", badUser}, 2, "no such account in /etc/passwd"},
		{"no-socket-once", []string{"run", "--config", noSocket}, 1, "cannot start: no socket to serve"},
	}
	for _, tc := range tests {
		for _, terminal := range []bool{false, true} {
			name := tc.name + "-pipe"
			if terminal {
				name = tc.name + "-terminal"
			}
			t.Run(name, func(t *testing.T) {
				var got string
				var code int
				if terminal {
					master, tty := testkit.PTY(t)
					_, _, code = runAgent(t, tty, tc.args...)
					got = testkit.ReadPTY(t, master, tty)
				} else {
					_, got, code = runAgent(t, nil, tc.args...)
				}
				if code != tc.code {
					t.Errorf("exit status %d, want %d", code, tc.code)
				}
				if n := strings.Count(got, tc.want); n != 1 {
					t.Errorf("stderr shows %q %d times, want once:\n%s", tc.want, n, got)
				}
			})
		}
	}
}

// serviceUserName is an account the service may run as here: the one running the tests.
func serviceUserName(t *testing.T) string {
	t.Helper()
	f := newFixture(t)
	return f.user
}
