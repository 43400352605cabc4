package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
	"github.com/eic-agent/eic-agent/agent/wire"
)

// chainTable is a [chain] table for setup.extra; a timeout of "" keeps the default.
func chainTable(timeout string, argv ...string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = strconv.Quote(a)
	}
	s := "[chain]\ncommand = [" + strings.Join(quoted, ", ") + "]\n"
	if timeout != "" {
		s += fmt.Sprintf("timeout = %q\n", timeout)
	}
	return s + "max_output_bytes = 4096\n"
}

// TestChainedCommand runs the built helper with a real second command beside a real EIC
// lookup: the chained keys come after ours, and whatever the chained command does (fail, hang,
// flood, print junk, sit where sshd would not run it) costs only its own keys.
func TestChainedCommand(t *testing.T) {
	dir := testkit.SafeDir(t)
	eicKey, other := newKey(t, "ed25519"), newKey(t, "ecdsa-p256")
	eic, theirs := testkit.Line(eicKey)+"\n", testkit.Line(other)+"\n"
	loose := filepath.Join(t.TempDir(), "keys") // under /tmp: sshd would refuse it
	if err := os.WriteFile(loose, []byte("#!/bin/sh\necho '"+testkit.Line(other)+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	prints := "echo '" + testkit.Line(other) + "'"
	tests := []struct {
		name     string
		argv     []string // the template; argv[0] "" is a script made from body
		body     string
		timeout  string
		args     []string // after --config; default alice
		faults   emulator.Faults
		want     string
		wantCode int
		wantLog  []string
	}{
		{name: "chained-key-printed-after-ours", body: prints, want: eic + theirs,
			wantLog: []string{"chained AuthorizedKeysCommand", "gave 1 keys", "outcome=ok", "event=chain-key"}},
		{name: "failing-command-keeps-our-keys", body: prints + "; echo 'no such user' >&2; exit 1", want: eic,
			wantLog: []string{"outcome=exit-status", "exit status 1", "stderr=\"no such user\""}},
		{name: "hanging-command-killed-and-our-keys-kept", body: "trap '' TERM\nsleep 1000", timeout: "300ms", want: eic,
			wantLog: []string{"outcome=timeout", "killed it and everything it started"}},
		{name: "junk-refused-key-passed", body: "echo 'not a key'; " + prints, want: eic + theirs,
			wantLog: []string{"refused 1 lines", "first_refusal=\"line 1:"}},
		{name: "flood-cut-key-passed", body: prints + "; head -c 100000 /dev/zero | tr '\\0' x", want: eic + theirs,
			wantLog: []string{"discarded_bytes=100000"}},
		{name: "command-in-writable-directory-not-run", argv: []string{loose}, want: eic,
			wantLog: []string{"ERROR", "outcome=unsafe-path", "-writable (mode 07"}},
		{name: "key-token-without-key-argument-not-run", argv: []string{"", "%u", "%k", "%t"}, body: prints, want: eic,
			wantLog: []string{"ERROR", "outcome=missing-argument", "%u %f %t %k"}},
		{name: "eic-failure-still-serves-chained-keys", body: prints, faults: emulator.Faults{Status: 500}, want: theirs,
			wantLog: []string{"lookup failed", "exiting 0 although the EC2 Instance Connect lookup failed"}},
		{name: "eic-failure-and-chain-failure-exit-1", body: prints + "; exit 1", faults: emulator.Faults{Status: 500}, wantCode: 1,
			wantLog: []string{"lookup failed", "outcome=exit-status"}},
		{name: "user-eic-never-serves-still-chained", body: prints, args: []string{strings.Repeat("a", 40)}, want: theirs,
			wantLog: []string{"no EC2 Instance Connect lookup for this user"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			argv := tc.argv
			if len(argv) == 0 {
				argv = []string{""}
			}
			if argv[0] == "" {
				argv = append([]string{testkit.Script(t, dir, tc.body)}, argv[1:]...)
			}
			f := newFixture(t, setup{extra: chainTable(tc.timeout, argv...)})
			f.push(t, "alice", eicKey)
			f.emu.SetFaults(tc.faults)
			args := tc.args
			if args == nil {
				args = []string{"alice"}
			}
			out := f.run(t, args...)
			if out.code != tc.wantCode || out.stdout != tc.want {
				t.Fatalf("exit %d, stdout %q; want %d and %q\nstderr:\n%s", out.code, out.stdout, tc.wantCode, tc.want, out.stderr)
			}
			mustContain(t, "log", out.stderr, tc.wantLog...)
		})
	}
}

// TestChainedCommandGetsSSHDsArguments: with AuthorizedKeysCommand "... %u %f %t %k" the
// chained command sees the values sshd gave, as opkssh needs; the helper itself still filters
// its own keys by %f.
func TestChainedCommandGetsSSHDsArguments(t *testing.T) {
	dir := testkit.SafeDir(t)
	eicKey, offered := newKey(t, "ed25519"), newKey(t, "ecdsa-p256")
	fp, typ, b64 := ssh.FingerprintSHA256(offered), offered.Type(), base64.StdEncoding.EncodeToString(offered.Marshal())
	// It vouches for the offered key only when every argument is what sshd passed.
	body := fmt.Sprintf(`[ "$#" = 4 ] && [ "$1" = alice ] && [ "$2" = %q ] && [ "$3" = %q ] && [ "$4" = %q ] || exit 9
echo "cert-authority $3 $4"`, fp, typ, b64)
	f := newFixture(t, setup{extra: chainTable("", testkit.Script(t, dir, body), "%u", "%f", "%t", "%k")})
	f.push(t, "alice", eicKey)
	out := f.run(t, "alice", fp, typ, b64)
	want := "cert-authority " + testkit.Line(offered) + "\n" // the EIC key is not the offered one
	if out.code != 0 || out.stdout != want {
		t.Fatalf("exit %d, stdout %q; want 0 and %q\nstderr:\n%s", out.code, out.stdout, want, out.stderr)
	}
	mustContain(t, "log", out.stderr, "reason=fingerprint-mismatch", "outcome=ok")
}

// TestChainedCommandWithServiceAnswer: the chained keys follow ours whichever path decided
// ours, the warm service's included.
func TestChainedCommandWithServiceAnswer(t *testing.T) {
	dir := testkit.SafeDir(t)
	served, other := newKey(t, "ed25519"), newKey(t, "ecdsa-p256")
	sock, _ := testService(t, func(_ context.Context, req wire.Request) wire.Response {
		return wire.FromResult(lookup.Result{Outcome: lookup.Verified, User: req.User, Accepted: []keys.Accepted{{
			Line: testkit.Line(served), Key: served, Fingerprint: ssh.FingerprintSHA256(served), Caller: "arn:aws:iam::1:user/x",
			RequestID: "r", InstanceID: "i-0123456789abcdef0", Expires: time.Now().Add(time.Minute),
		}}}, nil)
	})
	f := newFixture(t, setup{socket: sock, extra: chainTable("", testkit.Script(t, dir, "echo '"+testkit.Line(other)+"'"))})
	out := f.run(t, "alice")
	want := testkit.Line(served) + "\n" + testkit.Line(other) + "\n"
	if out.code != 0 || out.stdout != want {
		t.Fatalf("exit %d, stdout %q; want 0 and %q\nstderr:\n%s", out.code, out.stdout, want, out.stderr)
	}
	mustContain(t, "log", out.stderr, "path=service", "outcome=ok")
}

// TestHangingChainLeavesNothingBehind: the helper returns, and nothing the chained command
// started is left running.
func TestHangingChainLeavesNothingBehind(t *testing.T) {
	dir := testkit.SafeDir(t)
	pidfile := filepath.Join(dir, "child.pid")
	body := "trap '' TERM\n/bin/sleep 1000 &\necho $! > " + pidfile + "\nwait"
	f := newFixture(t, setup{deadline: "1s", extra: chainTable("500ms", testkit.Script(t, dir, body))})
	key := newKey(t, "ed25519")
	f.push(t, "alice", key)
	out := f.run(t, "alice")
	if out.code != 0 || out.stdout != testkit.Line(key)+"\n" {
		t.Fatalf("exit %d, stdout %q; want 0 and our key\nstderr:\n%s", out.code, out.stdout, out.stderr)
	}
	data, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatalf("the chained command never started its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, fmt.Sprintf("the chained command's child %d to be gone", pid), func() bool { return testkit.ProcessGone(pid) })
}

func TestKeyArguments(t *testing.T) {
	ed := newKey(t, "ed25519")
	fp, b64 := ssh.FingerprintSHA256(ed), base64.StdEncoding.EncodeToString(ed.Marshal())
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"three-arguments-refused", []string{"alice", fp, "ssh-ed25519"}, "usage:"},
		{"five-arguments-refused", []string{"alice", fp, "ssh-ed25519", b64, "x"}, "usage:"},
		{"type-with-space-refused", []string{"alice", fp, "ssh ed25519", b64}, "bad key arguments"},
		{"type-with-option-text-refused", []string{"alice", fp, `command="x"`, b64}, "bad key arguments"},
		{"key-not-base64-refused", []string{"alice", fp, "ssh-ed25519", "not base64!"}, "not base64"},
		{"empty-key-refused", []string{"alice", fp, "ssh-ed25519", ""}, "bad key arguments"},
	}
	f := newFixture(t, setup{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := f.run(t, tc.args...)
			if out.code != 2 || out.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing\nstderr:\n%s", out.code, out.stdout, out.stderr)
			}
			mustContain(t, "stderr", out.stderr, tc.want)
		})
	}
	t.Run("type-and-key-accepted-without-chain", func(t *testing.T) {
		f.push(t, "alice", ed)
		out := f.run(t, "alice", fp, ed.Type(), b64)
		if out.code != 0 || out.stdout != testkit.Line(ed)+"\n" {
			t.Fatalf("exit %d, stdout %q; want 0 and the key\nstderr:\n%s", out.code, out.stdout, out.stderr)
		}
	})
}
