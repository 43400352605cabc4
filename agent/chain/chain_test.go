package chain_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eic-agent/eic-agent/agent/chain"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

func run(t *testing.T, cfg chain.Config, a chain.Args) (chain.Result, error) {
	t.Helper()
	if cfg.MaxOutput == 0 {
		cfg.MaxOutput = 64 << 10
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second // a safety net only: no case here relies on it
	}
	if a.User == "" {
		a.User = "alice"
	}
	return chain.Run(context.Background(), cfg, a)
}

func reasonOf(err error) chain.Reason {
	var cerr *chain.Error
	if errors.As(err, &cerr) {
		return cerr.Reason
	}
	return ""
}

func lines(r chain.Result) []string {
	var out []string
	for _, k := range r.Keys {
		out = append(out, k.Line)
	}
	return out
}

func TestRunOutput(t *testing.T) {
	dir := testkit.SafeDir(t)
	k1, k2 := testkit.Line(testkit.Key(t, "ed25519")), testkit.Line(testkit.Key(t, "ecdsa-p256"))
	tests := []struct {
		name        string
		body        string
		want        []string
		wantRefused int
		wantFirst   string
		wantReason  chain.Reason
		wantErr     string
	}{
		{name: "printed-key-passes", body: "echo '" + k1 + " c'", want: []string{k1}},
		{name: "keys-keep-their-order", body: "echo '" + k2 + "'; echo '" + k1 + "'", want: []string{k2, k1}},
		{name: "options-pass-comments-and-blanks-skipped", body: "printf '# keys\\n\\n  \\nrestrict,from=\"10.0.0.1\" " + k1 + "\\n'",
			want: []string{`restrict,from="10.0.0.1" ` + k1}},
		{name: "crlf-lines-pass", body: "printf '" + k1 + "\\r\\n'", want: []string{k1}},
		{name: "last-line-without-newline-passes", body: "printf '" + k1 + "'", want: []string{k1}},
		{name: "junk-refused-and-counted-key-passes", body: "echo hello; echo '" + k1 + "'; echo 'ssh-rsa AAAA'; printf 'x\\001y\\n'",
			want: []string{k1}, wantRefused: 3, wantFirst: "line 1: "},
		{name: "no-output-no-keys", body: "exit 0"},
		{name: "non-zero-exit-hides-its-keys", body: "echo '" + k1 + "'; exit 3",
			wantReason: chain.ReasonExitStatus, wantErr: "exit status 3"},
		{name: "killed-by-signal-hides-its-keys", body: "echo '" + k1 + "'; kill -9 $$",
			wantReason: chain.ReasonExitStatus, wantErr: "signal: killed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := run(t, chain.Config{Command: []string{testkit.Script(t, dir, tc.body)}}, chain.Args{})
			if got := reasonOf(err); got != tc.wantReason || (tc.wantErr != "" && !strings.Contains(fmt.Sprint(err), tc.wantErr)) {
				t.Fatalf("Run error = %v (reason %q); want reason %q containing %q", err, got, tc.wantReason, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, lines(res)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if res.Refused != tc.wantRefused || !strings.HasPrefix(res.FirstRefusal, tc.wantFirst) {
				t.Errorf("refused %d (%q); want %d (%q...)", res.Refused, res.FirstRefusal, tc.wantRefused, tc.wantFirst)
			}
		})
	}
}

// TestRunBounds: what a runaway command can cost is its time slot, MaxOutput bytes of memory
// for stdout and MaxStderr for stderr; what it printed within the bound still counts when it
// exits 0.
func TestRunBounds(t *testing.T) {
	dir := testkit.SafeDir(t)
	k := testkit.Line(testkit.Key(t, "ed25519"))
	t.Run("flood-after-key-cut-and-key-kept", func(t *testing.T) {
		res, err := run(t, chain.Config{Command: []string{testkit.Script(t, dir, "echo '"+k+"'; head -c 300000 /dev/zero | tr '\\0' x")}, MaxOutput: 4096}, chain.Args{})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if diff := cmp.Diff([]string{k}, lines(res)); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
		// The cut line is discarded whole: every byte of it counts.
		if res.Discarded != 300000 || res.Refused != 0 {
			t.Errorf("discarded %d bytes, refused %d lines; want 300000 and 0", res.Discarded, res.Refused)
		}
	})
	t.Run("endless-flood-stopped-at-timeout", func(t *testing.T) {
		res, err := run(t, chain.Config{Command: []string{testkit.Script(t, dir, "exec yes '"+k+"'")}, Timeout: 300 * time.Millisecond, MaxOutput: 4096}, chain.Args{})
		if reasonOf(err) != chain.ReasonTimeout || len(res.Keys) != 0 {
			t.Fatalf("Run = %d keys, %v; want none and a timeout", len(res.Keys), err)
		}
	})
	t.Run("stderr-kept-bounded", func(t *testing.T) {
		res, err := run(t, chain.Config{Command: []string{testkit.Script(t, dir, "echo oops >&2; head -c 100000 /dev/zero | tr '\\0' e >&2; echo '"+k+"'")}}, chain.Args{})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if !strings.HasPrefix(res.Stderr, "oops\n") || len(res.Stderr) != chain.MaxStderr || res.StderrDiscarded != 100005-chain.MaxStderr {
			t.Errorf("stderr %d bytes starting %.8q, %d discarded; want %d starting \"oops\\n\", %d discarded",
				len(res.Stderr), res.Stderr, res.StderrDiscarded, chain.MaxStderr, 100005-chain.MaxStderr)
		}
		if len(res.Keys) != 1 {
			t.Errorf("%d keys; want the one printed after the noise", len(res.Keys))
		}
	})
}

// TestRunLeavesNothingBehind: whether the command hangs (its own timeout or the caller's
// deadline) or answers and exits, nothing it started survives Run.
func TestRunLeavesNothingBehind(t *testing.T) {
	dir := testkit.SafeDir(t)
	k := testkit.Line(testkit.Key(t, "ed25519"))
	tests := []struct {
		name       string
		body       string // PIDFILE is replaced with where the child's pid goes
		timeout    time.Duration
		deadline   time.Duration // the caller's; 0 for none
		wantReason chain.Reason
		wantKeys   int
	}{
		{name: "hang-killed-at-timeout", body: "trap '' TERM\n/bin/sleep 1000 &\necho $! > PIDFILE\nwait",
			timeout: 500 * time.Millisecond, wantReason: chain.ReasonTimeout},
		{name: "hang-killed-at-callers-deadline", body: "trap '' TERM\n/bin/sleep 1000 &\necho $! > PIDFILE\nwait",
			timeout: 20 * time.Second, deadline: 500 * time.Millisecond, wantReason: chain.ReasonTimeout},
		{name: "answer-then-exit-child-killed", body: "/bin/sleep 1000 &\necho $! > PIDFILE\necho '" + k + "'",
			timeout: 20 * time.Second, wantKeys: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pidfile := filepath.Join(dir, "child-"+tc.name)
			cmd := testkit.Script(t, dir, strings.ReplaceAll(tc.body, "PIDFILE", pidfile))
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			res, err := chain.Run(ctx, chain.Config{Command: []string{cmd}, Timeout: tc.timeout, MaxOutput: 4096}, chain.Args{User: "alice"})
			if reasonOf(err) != tc.wantReason || len(res.Keys) != tc.wantKeys {
				t.Fatalf("Run = %d keys, %v; want %d and reason %q", len(res.Keys), err, tc.wantKeys, tc.wantReason)
			}
			data, err := os.ReadFile(pidfile)
			if err != nil {
				t.Fatalf("the command never started its child: %v", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			// SIGKILL was sent before Run returned; the kernel finishes the child off
			// asynchronously.
			testkit.WaitFor(t, fmt.Sprintf("the command's child %d to be gone", pid), func() bool { return testkit.ProcessGone(pid) })
		})
	}
}

// TestRunAsSSHDWould: the arguments, environment, stdin, working directory and user are what
// sshd would give the command if it ran it itself.
func TestRunAsSSHDWould(t *testing.T) {
	dir := testkit.SafeDir(t)
	out := filepath.Join(dir, "seen")
	cmd := testkit.Script(t, dir, `{ printf '%s\n' "$@"; echo --; /usr/bin/env -u PWD | sort; echo --; cat; echo --; pwd; id -u; } > `+out)
	env := chain.SSHDEnv(vars{"USER": "ec2-instance-connect", "HOME": "/nonexistent", "SECRET": "x"}.get)
	a := chain.Args{User: "alice smith", Fingerprint: "SHA256:abc", KeyType: "ssh-ed25519", Key: "AAAAC3"}
	if _, err := run(t, chain.Config{Command: []string{cmd, "%u", "--fp=%f", "%t", "%k", "100%%", "%u%%%u"}, Env: env}, a); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sortedEnv := slices.Sorted(slices.Values(env))
	want := strings.Join([]string{
		"alice smith", "--fp=SHA256:abc", "ssh-ed25519", "AAAAC3", "100%", "alice smith%alice smith", "--",
		strings.Join(sortedEnv, "\n"), "--", "--", "/", strconv.Itoa(os.Getuid()),
	}, "\n") + "\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("what the command saw (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"PATH=" + chain.DefaultPath, "USER=ec2-instance-connect", "HOME=/nonexistent"}, env); diff != "" {
		t.Errorf("SSHDEnv (-want +got):\n%s", diff)
	}
}

type vars map[string]string

func (v vars) get(k string) string { return v[k] }

// TestRunRefusesBeforeStarting: a command sshd would not run, or one that needs a value sshd
// did not pass, is never started.
func TestRunRefusesBeforeStarting(t *testing.T) {
	dir := testkit.SafeDir(t)
	mark := filepath.Join(dir, "ran")
	body := "echo > " + mark
	loose := filepath.Join(t.TempDir(), "cmd") // under /tmp, which anyone may write to
	if err := os.WriteFile(loose, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		argv       []string
		args       chain.Args
		wantReason chain.Reason
		wantErr    string
	}{
		{name: "key-token-without-key", argv: []string{testkit.Script(t, dir, body), "%u", "%k", "%t"}, args: chain.Args{User: "alice", Fingerprint: "SHA256:x"},
			wantReason: chain.ReasonMissingArgument, wantErr: "%u %f %t %k"},
		{name: "fingerprint-token-without-fingerprint", argv: []string{testkit.Script(t, dir, body), "%f"}, args: chain.Args{User: "alice"},
			wantReason: chain.ReasonMissingArgument, wantErr: "uses %f"},
		{name: "program-in-world-writable-directory", argv: []string{loose}, args: chain.Args{User: "alice"},
			wantReason: chain.ReasonUnsafePath, wantErr: "-writable (mode 07"},
		{name: "missing-program", argv: []string{filepath.Join(dir, "nope")}, args: chain.Args{User: "alice"},
			wantReason: chain.ReasonUnsafePath, wantErr: "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := run(t, chain.Config{Command: tc.argv}, tc.args)
			if reasonOf(err) != tc.wantReason || !strings.Contains(fmt.Sprint(err), tc.wantErr) || len(res.Keys) != 0 {
				t.Fatalf("Run = %d keys, %v; want reason %q containing %q", len(res.Keys), err, tc.wantReason, tc.wantErr)
			}
			if _, err := os.Stat(mark); err == nil {
				t.Fatal("the command was run")
			}
		})
	}
}
