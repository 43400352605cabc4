package main

// How the helper behaves for a person trying it at a terminal: --help and --version, usage
// errors that say what is wrong, argument words read as user names, errors that reach the
// terminal, and one block numbering in the log and in verify --explain.

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

func TestHelpAndVersionOnStdout(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // stdout's start
	}{
		{"version-flag", []string{"--version"}, "eic-authorized-keys dev\n"},
		{"help-flag", []string{"--help"}, "usage: eic-authorized-keys [--config FILE] USER [FINGERPRINT [TYPE KEY]]"},
		{"short-help-flag", []string{"-h"}, "usage: eic-authorized-keys [--config FILE] USER [FINGERPRINT [TYPE KEY]]"},
		{"verify-help", []string{"verify", "--help"}, "usage: eic-authorized-keys verify --keys FILE"},
		{"verify-short-help", []string{"verify", "-h"}, "usage: eic-authorized-keys verify --keys FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := runBin(t, tc.args...)
			if out.code != 0 || !strings.HasPrefix(out.stdout, tc.want) || out.stderr != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0, stdout starting %q, nothing on stderr", out.code, out.stdout, out.stderr, tc.want)
			}
		})
	}
	t.Run("verify-help-lists-every-flag", func(t *testing.T) {
		out := runBin(t, "verify", "--help")
		mustContain(t, "verify --help", out.stdout, "-keys", "-signer-chain", "-ocsp-dir", "-instance-id", "-expected-signer", "-ca", "-explain")
	})
}

func TestUsageErrorsSaySo(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"too-many-arguments-counted", []string{"a", "b", "c"}, "3 arguments: want USER, then at most a FINGERPRINT, then the key's TYPE and KEY together"},
		{"no-user-named", nil, "missing the user name"},
		{"unknown-flag-named", []string{"--bogus", "alice"}, "flag provided but not defined: -bogus"},
		{"verify-extra-argument-named", []string{"verify", "--keys", "k", "stray"}, `too many arguments: ["stray"]`},
		{"verify-missing-flags-listed", []string{"verify", "--keys", "k"},
			"missing --signer-chain, --ocsp-dir, --instance-id, --expected-signer, --ca"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := runBin(t, tc.args...)
			if out.code != 2 || out.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing\nstderr:\n%s", out.code, out.stdout, out.stderr)
			}
			mustContain(t, "stderr", out.stderr, tc.want)
		})
	}
}

// TestCommandWordsAsUserNames: sshd may pass an account called verify, version or help; it is
// looked up like any other, and the log says how the word was read, so a person who typed it
// as a command learns what to type instead.
func TestCommandWordsAsUserNames(t *testing.T) {
	f := newFixture(t, setup{})
	tests := []struct {
		name string
		args []string
		hint string // "" means no such line
	}{
		{"version-looked-up-and-said", []string{"version"}, "eic-authorized-keys --version"},
		{"help-looked-up-and-said", []string{"help"}, "eic-authorized-keys --help"},
		{"bare-verify-looked-up-and-said", []string{"verify"}, "verify --help"},
		{"verify-with-fingerprint-looked-up-and-said", []string{"verify", "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}, "verify --help"},
		{"ordinary-user-not-remarked", []string{"alice"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.emu.ResetCounts()
			out := f.run(t, tc.args...)
			if out.code != 0 || out.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want a user lookup (0, no keys)\nstderr:\n%s", out.code, out.stdout, out.stderr)
			}
			if f.emu.Count(pathKeys+tc.args[0]+"/") == 0 {
				t.Errorf("no IMDS lookup of %s's keys: %v", tc.args[0], f.emu.Counts())
			}
			said := strings.Contains(out.stderr, "argument taken as the user name to look up user="+tc.args[0])
			if tc.hint == "" && said {
				t.Errorf("an ordinary user name was remarked on:\n%s", out.stderr)
			}
			if tc.hint != "" && (!said || !strings.Contains(out.stderr, tc.hint)) {
				t.Errorf("log does not say %q was taken as a user name, with %q:\n%s", tc.args[0], tc.hint, out.stderr)
			}
		})
	}
}

// TestErrorsReachTheTerminal runs the helper with its stderr on a pseudo-terminal, as a person
// at a shell would: a bad --config is said there, once. (That the journald and syslog targets
// are copied to a terminal is agent/audit's test and the e2e TestTypoInConfigReachesTerminal.)
func TestErrorsReachTheTerminal(t *testing.T) {
	dir := t.TempDir()
	stderrCfg := filepath.Join(dir, "stderr.toml")
	if err := os.WriteFile(stderrCfg, []byte("[log]\ntarget = \"stderr\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing-config-said-once", []string{"--config", filepath.Join(dir, "typo.toml"), "alice"}, "typo.toml: no such file or directory"},
		{"directory-config-said-in-words", []string{"--config", dir, "alice"}, "is a directory, not a regular file"},
		{"stderr-target-not-doubled", []string{"--config", stderrCfg, "alice", "not-a-fingerprint"}, "refusing lookup: bad fingerprint argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			master, tty := testkit.PTY(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binPath, tc.args...)
			cmd.Env = []string{}
			cmd.Stderr = tty
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("run: %v; want exit status 2", err)
			}
			got := testkit.ReadPTY(t, master, tty)
			if n := strings.Count(got, tc.want); n != 1 {
				t.Errorf("the terminal shows %q %d times, want once:\n%s", tc.want, n, got)
			}
		})
	}
}

// TestExplainAndAuditNumberBlocksAlike serves one bundle to a login and saves it for verify
// --explain: the rejected third block is block 3 in both.
func TestExplainAndAuditNumberBlocksAlike(t *testing.T) {
	p := testPKI(t, "us-east-1", "amazonaws.com")
	f := newFixture(t, setup{pki: p})
	good, old := newKey(t, "ed25519"), newKey(t, "ed25519")
	id := f.emu.InstanceID()
	sign := func(expires time.Time, request string, k ssh.PublicKey) string {
		b, err := f.emu.SignBlock([]string{fmt.Sprintf("#Timestamp=%d", expires.Unix()), "#Instance=" + id,
			"#Caller=c", "#Request=" + request, testkit.Line(k)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	later, earlier := time.Now().Add(time.Minute), time.Now().Add(-time.Second)
	bundle := strings.Join([]string{sign(later, "r1", good), sign(later, "r2", good), sign(earlier, "r3", old)}, "\n\n") + "\n"
	f.emu.SetRawKeys("alice", []byte(bundle))

	out := f.run(t, "alice")
	mustContain(t, "audit log", out.stderr, "block=3 reason=expired")

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for i, c := range []*x509.Certificate{p.Signer.Cert, p.Intermediate.Cert} {
		der, err := f.emu.StapleDER(c, emulator.StapleGood)
		if err != nil {
			t.Fatal(err)
		}
		write(fmt.Sprintf("ocsp/%d", i), []byte(base64.StdEncoding.EncodeToString(der)))
	}
	v := runBin(t, "verify", "--keys", write("keys", []byte(bundle)), "--signer-chain", write("chain.pem", p.ChainPEM(false)),
		"--ocsp-dir", filepath.Join(dir, "ocsp"), "--instance-id", id, "--expected-signer", pki.SignerName("us-east-1", "amazonaws.com"),
		"--ca", write("ca.pem", p.RootPEM()), "--explain")
	if v.code != 0 {
		t.Fatalf("verify: exit %d\n%s", v.code, v.stderr)
	}
	mustContain(t, "verify --explain", v.stderr, "block 3 (line ", "rejected: expired")
	for _, l := range strings.Split(v.stderr, "\n") {
		if strings.Contains(l, "rejected: expired") && !strings.HasPrefix(l, "block 3 ") {
			t.Errorf("the expired block is %q in --explain, block 3 in the audit log", l)
		}
	}
}
