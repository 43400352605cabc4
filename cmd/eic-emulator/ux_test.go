package main

import (
	"strings"
	"testing"
)

// TestHelpAndVersionOnStdout: what a new user tries first prints to stdout and exits 0.
func TestHelpAndVersionOnStdout(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"version-flag", []string{"--version"}, "eic-emulator dev\n"},
		{"version-command", []string{"version"}, "eic-emulator dev\n"},
		{"help-flag", []string{"--help"}, "usage: eic-emulator COMMAND [flags]"},
		{"help-command", []string{"help"}, "usage: eic-emulator COMMAND [flags]"},
		{"short-help-flag", []string{"-h"}, "usage: eic-emulator COMMAND [flags]"},
		{"serve-help", []string{"serve", "--help"}, "usage: eic-emulator serve"},
		{"subcommand-help-lists-flags", []string{"fault", "-h"}, "usage: eic-emulator fault"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runBinary(t, tc.args...)
			if code != 0 || !strings.HasPrefix(stdout, tc.want) || stderr != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0, stdout starting %q, nothing on stderr", code, stdout, stderr, tc.want)
			}
		})
	}
	t.Run("subcommand-help-lists-its-flags", func(t *testing.T) {
		if stdout, _, _ := runBinary(t, "fault", "-h"); !strings.Contains(stdout, "-slow-drip D") {
			t.Errorf("fault -h does not list --slow-drip:\n%s", stdout)
		}
	})
}
