package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCommandLine runs the demo's run() with the arguments a new user tries first; none of
// them may start the demo (which enters namespaces and starts sshd).
func TestCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{"version-on-stdout", []string{"--version"}, 0, "eic-demo dev\n", ""},
		{"help-on-stdout", []string{"--help"}, 0, "usage: eic-demo [--bin DIR]", ""},
		{"short-help-on-stdout", []string{"-h"}, 0, "usage: eic-demo [--bin DIR]", ""},
		{"argument-is-too-many", []string{"version"}, 2, "", `too many arguments: ["version"]`},
		{"unknown-flag-named", []string{"--bogus"}, 2, "", "flag provided but not defined: -bogus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), tc.wantStdout) || (tc.wantStdout == "") != (stdout.Len() == 0) {
				t.Errorf("stdout %q, want it to start with %q", stdout.String(), tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) || (tc.wantStderr == "") != (stderr.Len() == 0) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}
