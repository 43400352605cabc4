package config

import (
	"strings"
	"testing"
)

// TestChainTable: the [chain] table is checked at load for what a file can get wrong (the
// program's ownership and modes are checked when it runs: agent/chain), including what an
// attacker who can only influence the arguments' text would try.
func TestChainTable(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string // "" when accepted
	}{
		{"sssd-accepted", `command = ["/usr/bin/sss_ssh_authorizedkeys", "%u"]`, ""},
		{"opkssh-accepted", `command = ["/usr/local/bin/opkssh", "verify", "%u", "%k", "%t"]`, ""},
		{"every-token-and-percent-accepted", `command = ["/usr/bin/x", "--fp=%f", "100%%", "%t %k", "%u%u"]`, ""},
		{"empty-command-is-off", `command = []`, ""},
		{"timeout-at-limit-accepted", "command = [\"/usr/bin/x\"]\ntimeout = \"4900ms\"", ""},
		{"timeout-unchecked-against-deadline-without-command", "timeout = \"10s\"", ""},
		{"relative-path-refused", `command = ["sss_ssh_authorizedkeys", "%u"]`, `chain.command: program "sss_ssh_authorizedkeys": must be an absolute path`},
		{"dot-dot-path-refused", `command = ["/usr/bin/../../tmp/x"]`, "must be a clean path"},
		{"token-in-path-refused", `command = ["/home/%u/bin/keys"]`, "its path takes no %-tokens"},
		{"empty-program-refused", `command = [""]`, "must be an absolute path"},
		{"unknown-token-refused", `command = ["/usr/bin/x", "%x"]`, `chain.command: argument 1 "%x": unknown token %x; the tokens are %u`},
		{"sshd-only-token-refused", `command = ["/usr/bin/x", "%U"]`, "unknown token %U"},
		{"lone-percent-refused", `command = ["/usr/bin/x", "100%"]`, "ends with a lone %"},
		{"newline-in-argument-refused", `command = ["/usr/bin/x", "a\nb"]`, "control character"},
		{"too-many-arguments-refused", `command = ["/usr/bin/x"` + strings.Repeat(`, "a"`, 32) + `]`, "at most 32"},
		{"timeout-past-deadline-refused", "command = [\"/usr/bin/x\"]\ntimeout = \"4950ms\"", `chain.timeout = "4.95s": must be at most deadline minus 100ms (4.9s)`},
		{"timeout-too-short-refused", `timeout = "10ms"`, `chain.timeout = "10ms": must be between 50ms and 10s`},
		{"output-too-small-refused", "max_output_bytes = 1023", "chain.max_output_bytes = 1023"},
		{"output-too-large-refused", "max_output_bytes = 1048577", "chain.max_output_bytes = 1048577"},
		{"misspelt-key-refused", `comand = ["/usr/bin/x"]`, `unknown key "chain.comand"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("[chain]\n"+tc.data+"\n"), "test.toml")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Parse: %v; want it accepted", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Parse error = %v; want one containing %q", err, tc.wantErr)
			}
		})
	}
}
