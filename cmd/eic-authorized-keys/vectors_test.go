package main

// The OpenSSL-signed key bundle vectors (testdata/vectors, made by `make vectors`) through the
// real `verify` subcommand: upstream's unit-test scenarios, with expectations in
// testdata/bundles.tsv.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
	"golang.org/x/crypto/ssh"
)

const bundleVectors = "testdata/vectors"

// bundleCase is one row of testdata/bundles.tsv.
type bundleCase struct {
	name, bundle, ocsp, fingerprint, exit, keys, signer, blocks string
}

func bundleCases(t *testing.T) []bundleCase {
	t.Helper()
	b, err := os.ReadFile("testdata/bundles.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var out []bundleCase
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 8 || slices.Contains(f, "") {
			t.Fatalf("bundles.tsv:%d: want 8 non-empty tab-separated fields (- for none), got %q", i+1, f)
		}
		out = append(out, bundleCase{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]})
	}
	if len(out) == 0 {
		t.Fatal("bundles.tsv: no cases")
	}
	return out
}

// vectorValue reads a one-line file of the saved case.
func vectorValue(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundleVectors, name))
	if err != nil {
		t.Fatalf("vector %s: %v (regenerate with make vectors)", name, err)
	}
	return strings.TrimSpace(string(b))
}

// userKey parses vectors/NAME.pub.
func userKey(t *testing.T, name string) ssh.PublicKey {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(vectorValue(t, name+".pub")))
	if err != nil {
		t.Fatalf("vector %s.pub: %v", name, err)
	}
	return k
}

// offered turns the manifest's fingerprint field into the --fingerprint flag's value.
func offered(t *testing.T, field string) string {
	t.Helper()
	if name, ok := strings.CutPrefix(field, "md5:"); ok {
		return "MD5:" + ssh.FingerprintLegacyMD5(userKey(t, name))
	}
	return ssh.FingerprintSHA256(userKey(t, field))
}

func TestBundleVectors(t *testing.T) {
	dir, err := filepath.Abs(bundleVectors)
	if err != nil {
		t.Fatal(err)
	}
	now, instance, expected := vectorValue(t, "now"), vectorValue(t, "instance-id"), vectorValue(t, "expected-signer")
	for _, tc := range bundleCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"verify", "--keys", filepath.Join(dir, "bundles", tc.bundle),
				"--signer-chain", filepath.Join(dir, "chain.pem"), "--ocsp-dir", filepath.Join(dir, tc.ocsp),
				"--ca", filepath.Join(dir, "root.pem"), "--instance-id", instance, "--expected-signer", expected,
				"--now", now, "--explain"}
			if tc.fingerprint != "-" {
				args = append(args, "--fingerprint", offered(t, tc.fingerprint))
			}
			var want strings.Builder
			for _, k := range list(tc.keys) {
				want.WriteString(testkit.Line(userKey(t, k)) + "\n")
			}
			out := runBin(t, args...)
			if fmt.Sprint(out.code) != tc.exit || out.stdout != want.String() {
				t.Fatalf("exit %d, stdout:\n%s\nwant exit %s, stdout:\n%s\nstderr:\n%s", out.code, out.stdout, tc.exit, want.String(), out.stderr)
			}
			checkExplain(t, out.stderr, tc.signer, list(tc.blocks))
		})
	}
}

// checkExplain holds --explain's lines to the manifest: the signer's verdict, then one line per
// block with its verdict, and nothing about blocks that are not there.
func checkExplain(t *testing.T, stderr, signer string, blocks []string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	wantSigner := "signer: trusted: "
	if signer != "trusted" {
		wantSigner = "signer: UNTRUSTED: "
	}
	if !strings.HasPrefix(lines[0], wantSigner) || (signer != "trusted" && !strings.Contains(lines[0], ": "+signer+": ")) {
		t.Errorf("explain's signer line %q, want %q about %s", lines[0], wantSigner, signer)
	}
	got := lines[1:]
	if len(got) != len(blocks) {
		t.Fatalf("explain has %d block lines, want %d:\n%s", len(got), len(blocks), stderr)
	}
	for i, want := range blocks {
		prefix := fmt.Sprintf("block %d (line ", i+1)
		var verdict string
		switch want {
		case "accepted":
			verdict = "): accepted "
		case "duplicate":
			verdict = "): accepted (same key as an earlier block)"
		default:
			verdict = "): rejected: " + want
		}
		if !strings.HasPrefix(got[i], prefix) || !strings.Contains(got[i], verdict) {
			t.Errorf("explain line %q, want %q...%q", got[i], prefix, verdict)
		}
	}
}

// list splits a manifest's comma-separated field; "-" is the empty list.
func list(field string) []string {
	if field == "-" {
		return nil
	}
	return strings.Split(field, ",")
}
