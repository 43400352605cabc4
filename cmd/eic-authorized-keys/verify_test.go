package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// savedCase writes a bundle, chain, staples and CA as a support engineer would save them.
type savedCase struct {
	dir, keys, chain, ocsp, caFile, caDir string
	key                                   ssh.PublicKey
	expires                               int64
	instance, cn                          string
}

func newSavedCase(t *testing.T) savedCase {
	t.Helper()
	p := testPKI(t, "us-east-1", "amazonaws.com")
	emu, err := emulator.New(emulator.Config{PKI: p})
	if err != nil {
		t.Fatal(err)
	}
	c := savedCase{dir: t.TempDir(), key: newKey(t, "ecdsa-p384"), instance: emu.InstanceID(),
		cn: pki.SignerName("us-east-1", "amazonaws.com")}
	c.expires = time.Now().Add(time.Minute).Unix()
	block, err := emu.SignBlock([]string{
		fmt.Sprintf("#Timestamp=%d", c.expires), "#Instance=" + c.instance,
		"#Caller=arn:aws:iam::123456789012:user/support", "#Request=saved-1", testkit.Line(c.key),
	})
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel string, b []byte) string {
		path := filepath.Join(c.dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	c.keys = write("keys", []byte(block+"\n"))
	c.chain = write("signer-cert.pem", p.ChainPEM(false))
	// One staple as IMDS serves it (base64), the other as raw DER, with arbitrary names.
	sDER, err := emu.StapleDER(p.Signer.Cert, emulator.StapleGood)
	if err != nil {
		t.Fatal(err)
	}
	iDER, err := emu.StapleDER(p.Intermediate.Cert, emulator.StapleGood)
	if err != nil {
		t.Fatal(err)
	}
	write("ocsp/first", []byte(base64.StdEncoding.EncodeToString(sDER)+"\n"))
	write("ocsp/second.der", iDER)
	c.ocsp = filepath.Join(c.dir, "ocsp")
	c.caFile = write("ca-bundle.pem", append([]byte("# Test root\n"), p.RootPEM()...))
	write("ca-dir/root.pem", p.RootPEM())
	c.caDir = filepath.Join(c.dir, "ca-dir")
	return c
}

func (c savedCase) args(extra ...string) []string {
	base := []string{"verify", "--keys", c.keys, "--signer-chain", c.chain, "--ocsp-dir", c.ocsp,
		"--instance-id", c.instance, "--expected-signer", c.cn, "--ca", c.caFile, "--explain"}
	return append(base, extra...)
}

func TestVerifySavedCase(t *testing.T) {
	c := newSavedCase(t)
	other := newKey(t, "ed25519")
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  string
		explain []string
	}{
		{name: "accepted", args: c.args(), stdout: testkit.Line(c.key) + "\n",
			explain: []string{"signer: trusted: " + c.cn, "block 1 (line 1): accepted ecdsa-sha2-nistp384 " + ssh.FingerprintSHA256(c.key)}},
		{name: "accepted-with-ca-directory", args: c.args("--ca", c.caDir), stdout: testkit.Line(c.key) + "\n"},
		{name: "accepted-with-matching-fingerprint", args: c.args("--fingerprint", ssh.FingerprintSHA256(c.key)), stdout: testkit.Line(c.key) + "\n"},
		{name: "other-fingerprint-rejected", args: c.args("--fingerprint", ssh.FingerprintSHA256(other)), code: 1,
			explain: []string{"rejected: fingerprint-mismatch"}},
		{name: "expired-at-given-time", args: c.args("--now", fmt.Sprint(c.expires)), code: 1,
			explain: []string{"rejected: expired"}},
		{name: "other-instance-rejected", args: c.args("--instance-id", "i-0000000000000000f"), code: 1,
			explain: []string{"rejected: other-instance"}},
		{name: "wrong-expected-signer", args: c.args("--expected-signer", pki.SignerName("eu-west-1", "amazonaws.com")), code: 1,
			explain: []string{"signer: UNTRUSTED", "wrong-signer-name", "rejected: untrusted-signer"}},
		{name: "missing-flags-usage", args: []string{"verify", "--keys", c.keys}, code: 2},
		{name: "saved-for-a-named-user", args: c.args("--user", "alice@corp.example"), stdout: testkit.Line(c.key) + "\n"},
		// A name the service never accepts can have no keys: the login's first check refuses it.
		{name: "impossible-user-refused", args: c.args("--user", "../root"), code: 1,
			explain: []string{"login: FAILED", "not a valid EC2 Instance Connect OS user", "block 1 (line 1): not judged"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := runBin(t, tc.args...)
			if out.code != tc.code || out.stdout != tc.stdout {
				t.Fatalf("exit %d, stdout %q; want %d and %q\nstderr:\n%s", out.code, out.stdout, tc.code, tc.stdout, out.stderr)
			}
			mustContain(t, "explain", out.stderr, tc.explain...)
			if tc.code == 2 && !strings.Contains(out.stderr, "usage:") {
				t.Errorf("usage error without usage text:\n%s", out.stderr)
			}
		})
	}
}
