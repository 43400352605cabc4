package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// runBin runs the built eic-agent with an empty environment and returns stdout, stderr and the
// exit status.
func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = []string{}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

func TestDoctorCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
		wantStdout string
	}{
		{"extra-argument-is-usage", []string{"doctor", "extra"}, 2, `unexpected argument "extra"`, ""},
		{"unknown-flag-is-usage", []string{"doctor", "--bogus"}, 2, "usage: eic-agent doctor", ""},
		{"missing-explicit-config-is-usage", []string{"doctor", "--config", "/nonexistent/eic-agent.toml"}, 2, "config /nonexistent/eic-agent.toml", ""},
		{"help-goes-to-stdout", []string{"doctor", "--help"}, 0, "", "usage: eic-agent doctor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runBin(t, tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantStderr) || !strings.Contains(stdout, tc.wantStdout) ||
				(tc.wantStdout == "") != (stdout == "") || (tc.wantStderr == "") != (stderr == "") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout containing %q, stderr containing %q",
					code, stdout, stderr, tc.wantCode, tc.wantStdout, tc.wantStderr)
			}
		})
	}
}

// TestDoctorReportsAndExits: against the emulator, with an sshd that cannot be asked, doctor
// reports every check, passes the IMDS ones and exits 1 for the failure; --json says the same.
func TestDoctorReportsAndExits(t *testing.T) {
	f := newFixture(t)
	args := []string{"doctor", "--config", f.config, "--user", testUser, "--sshd", "/nonexistent/sshd"}
	stdout, stderr, code := runBin(t, args...)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (sshd cannot be asked); stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"fail sshd ", "     remedy: ", "ok   imds ", "ok   signer "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text report lacks %q:\n%s", want, stdout)
		}
	}

	stdout, _, code = runBin(t, append(args, "--json")...)
	var checks []struct{ Name, Status, Detail, Remedy string }
	if err := json.Unmarshal([]byte(stdout), &checks); err != nil || code != 1 {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, stdout)
	}
	got := map[string]string{}
	for _, c := range checks {
		got[c.Name] = c.Status
	}
	for name, status := range map[string]string{"sshd": "fail", "imds": "ok", "clock": "ok", "signer": "ok", "platform": "ok"} {
		if got[name] != status {
			t.Errorf("--json check %s is %q, want %q (all: %v)", name, got[name], status, got)
		}
	}
}
