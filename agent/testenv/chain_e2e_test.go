//go:build e2e

package testenv_test

// Chaining through real sshd: the helper runs a second key command ([chain]) whose keys log
// in, and a second command that fails or hangs neither blocks an EIC login nor outlives it.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/testenv"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// chainDir is where the chained commands go: root-owned up to /, as sshd's rule wants.
const chainDir = "/usr/local/libexec/eic-chain-e2e"

// withChain installs a chained command made of body and points the helper's config at it
// ("%u" as its argument) for this test only. It returns the command's path.
func withChain(t *testing.T, name, body, timeout string) string {
	t.Helper()
	path := filepath.Join(chainDir, name)
	if err := testenv.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := helperConfig + fmt.Sprintf("[chain]\ncommand = [%q, \"%%u\"]\ntimeout = %q\n", path, timeout)
	if err := testenv.WriteFile(testenv.ConfigPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testenv.WriteFile(testenv.ConfigPath, []byte(helperConfig), 0o644); err != nil {
			t.Error(err)
		}
		os.Remove(path)
	})
	return path
}

// chainRecord waits for the helper's record of a chained run with the given outcome.
func chainRecord(t *testing.T, mark int, outcome string) {
	t.Helper()
	mustRecord(t, mark, "event=chain outcome="+outcome, func(e testenv.Entry) bool {
		return e["EVENT"] == "chain" && e["OUTCOME"] == outcome
	})
}

func TestChainedCommandKeyLogsIn(t *testing.T) {
	sshd := start(t, "")
	// alice has no authorized_keys file and no pushed key: only the chained command vouches
	// for her key, as SSSD would for a directory user.
	alicePath, alicePub := key(t, "ed25519")
	withChain(t, "sssd-like", fmt.Sprintf(`[ "$1" = alice ] && echo '%s'`, alicePub), "1s")
	mark := env.Journal.Mark()
	mustLogIn(t, "alice", alicePath)
	chainRecord(t, mark, "ok")

	// EC2 Instance Connect keys still log in beside it, and the chained command's key is no
	// key for anyone else.
	eicPath, eicPub := key(t, "ecdsa")
	push(t, emulator.Push{OSUser: "ec2-user", PublicKey: eicPub})
	mustLogIn(t, "ec2-user", eicPath)
	mustBeRefused(t, "ec2-user", alicePath)
	noCommandFailure(t, sshd)
}

func TestBrokenChainedCommandDoesNotBlockEIC(t *testing.T) {
	// The hanging command records the pids it leaves behind where the command user (which
	// runs the helper, and so the chained command) can write.
	pids := filepath.Join(testenv.Work, "chain-pids")
	if err := os.MkdirAll(pids, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(pids, testenv.DefaultUsers[0].UID, testenv.DefaultUsers[0].UID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body, outcome string
	}{
		{"failing", "echo 'sssd is down' >&2; exit 1", "exit-status"},
		{"hanging", "trap '' TERM\n/bin/sleep 1000 &\necho $! >> " + filepath.Join(pids, "hanging") + "\necho $$ >> " + filepath.Join(pids, "hanging") + "\nwait", "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sshd := start(t, "")
			cmd := withChain(t, tc.name, tc.body, "1s")
			path, pub := key(t, "ed25519")
			push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub})
			mark := env.Journal.Mark()
			mustLogIn(t, "ec2-user", path)
			noCommandFailure(t, sshd)
			chainRecord(t, mark, tc.outcome)
			if tc.name != "hanging" {
				return
			}
			// Killed at its timeout with all it started: nothing of it outlives the logins
			// (sshd ran the helper at least twice: query and signed attempt).
			data, err := os.ReadFile(filepath.Join(pids, "hanging"))
			if err != nil {
				t.Fatalf("the hanging command never ran: %v", err)
			}
			for _, f := range strings.Fields(string(data)) {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatal(err)
				}
				testkit.WaitFor(t, fmt.Sprintf("process %d of the hanging command to be gone", pid), func() bool { return testkit.ProcessGone(pid) })
			}
			testkit.WaitFor(t, "no process running "+cmd, func() bool { return len(running(cmd)) == 0 })
		})
	}
}

// running lists the live processes whose command line mentions s.
func running(s string) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), s) && !testkit.ProcessGone(pid) {
			out = append(out, pid)
		}
	}
	return out
}
