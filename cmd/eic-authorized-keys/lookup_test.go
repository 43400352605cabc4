package main

import (
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

const (
	pathKeys   = "/latest/meta-data/managed-ssh-keys/active-keys/"
	pathSigner = "/latest/meta-data/managed-ssh-keys/signer-cert"
)

func TestAcceptsEveryKeyType(t *testing.T) {
	f := newFixture(t, setup{})
	for _, kind := range []string{"rsa", "ecdsa-p256", "ecdsa-p384", "ed25519", "sk-ed25519"} {
		t.Run(kind+"-accepted", func(t *testing.T) {
			user := "u-" + strings.ReplaceAll(kind, "-", "")
			key := newKey(t, kind)
			req := f.push(t, user, key)
			out := f.run(t, user, ssh.FingerprintSHA256(key))
			if out.code != 0 || out.stdout != testkit.Line(key)+"\n" {
				t.Fatalf("exit %d, stdout %q; want 0 and %q\nstderr:\n%s", out.code, out.stdout, testkit.Line(key)+"\n", out.stderr)
			}
			mustContain(t, "log", out.stderr, fmt.Sprintf(
				"Providing ssh key from EC2 Instance Connect with fingerprint: %s, request-id: %s, for IAM principal: %s",
				ssh.FingerprintSHA256(key), req, emulator.DefaultCaller), "user="+user)
		})
	}
}

func TestFingerprintFilter(t *testing.T) {
	f := newFixture(t, setup{})
	k1, k2 := newKey(t, "ed25519"), newKey(t, "ecdsa-p256")
	f.push(t, "alice", k1)
	f.push(t, "alice", k2)
	tests := []struct {
		name, fp, want string
	}{
		{"no-filter-prints-both", "", testkit.Line(k1) + "\n" + testkit.Line(k2) + "\n"},
		{"sha256-selects-one", ssh.FingerprintSHA256(k2), testkit.Line(k2) + "\n"},
		{"md5-selects-one", "MD5:" + ssh.FingerprintLegacyMD5(k1), testkit.Line(k1) + "\n"},
		{"other-key-gets-nothing", ssh.FingerprintSHA256(newKey(t, "ed25519")), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"alice"}
			if tc.fp != "" {
				args = append(args, tc.fp)
			}
			out := f.run(t, args...)
			if out.code != 0 || out.stdout != tc.want {
				t.Fatalf("exit %d, stdout %q; want 0 and %q\nstderr:\n%s", out.code, out.stdout, tc.want, out.stderr)
			}
		})
	}
	t.Run("other-key-skips-signer-fetch", func(t *testing.T) {
		f.emu.ResetCounts()
		f.run(t, "alice", ssh.FingerprintSHA256(newKey(t, "ed25519")))
		if n := f.emu.Count(pathSigner); n != 0 {
			t.Fatalf("signer-cert fetched %d times for a key that is not in the bundle; want 0", n)
		}
	})
}

func TestSeveralUsersAndDuplicates(t *testing.T) {
	f := newFixture(t, setup{})
	ka, kb := newKey(t, "ed25519"), newKey(t, "rsa")
	f.push(t, "alice", ka)
	f.push(t, "alice", ka) // pushed twice: printed once
	f.push(t, "bob", kb)
	f.push(t, "alice@corp.example", kb)
	for user, want := range map[string]string{
		"alice":              testkit.Line(ka) + "\n",
		"bob":                testkit.Line(kb) + "\n",
		"alice@corp.example": testkit.Line(kb) + "\n",
		"carol":              "",
	} {
		t.Run(user, func(t *testing.T) {
			out := f.run(t, user)
			if out.code != 0 || out.stdout != want {
				t.Fatalf("exit %d, stdout %q; want 0 and %q\nstderr:\n%s", out.code, out.stdout, want, out.stderr)
			}
		})
	}
}

func TestRequestBudget(t *testing.T) {
	f := newFixture(t, setup{})
	key := newKey(t, "ed25519")
	f.push(t, "alice", key)
	t.Run("no-keys-stops-after-three-requests", func(t *testing.T) {
		f.emu.ResetCounts()
		out := f.run(t, "nobody")
		// token, instance-id, active-keys: nothing more is fetched when there are no keys.
		if out.code != 0 || out.stdout != "" || f.emu.Total() != 3 {
			t.Fatalf("exit %d, stdout %q, %d requests %v; want 0, empty, 3", out.code, out.stdout, f.emu.Total(), f.emu.Counts())
		}
	})
	t.Run("full-verification-request-count", func(t *testing.T) {
		f.emu.ResetCounts()
		out := f.run(t, "alice", ssh.FingerprintSHA256(key))
		// token, instance-id, keys, region, zone, domain, signer-cert, staple list, 2 staples.
		if out.code != 0 || f.emu.Total() != 10 {
			t.Fatalf("exit %d, %d requests %v; want 0 and 10", out.code, f.emu.Total(), f.emu.Counts())
		}
	})
}

func TestNotAnInstanceDoesNothing(t *testing.T) {
	f := newFixture(t, setup{notEC2: true})
	f.push(t, "alice", newKey(t, "ed25519"))
	out := f.run(t, "alice")
	if out.code != 0 || out.stdout != "" || f.emu.Total() != 0 {
		t.Fatalf("exit %d, stdout %q, %d IMDS requests; want 0, empty, 0", out.code, out.stdout, f.emu.Total())
	}
	mustContain(t, "log", out.stderr, "not an EC2 instance")
}

func TestBadUserNamesNeverReachIMDS(t *testing.T) {
	f := newFixture(t, setup{})
	tests := []struct {
		name, user string
		code       int
	}{
		{"dot-dot-slash", "../x", 0},
		{"slash", "a/b", 0},
		{"percent-encoded-dots", "%2e%2e", 0},
		{"space", "a b", 0},
		{"control-character", "a\x01b", 0},
		{"too-long", strings.Repeat("a", 33), 0},
		{"empty", "", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.emu.ResetCounts()
			out := f.run(t, tc.user)
			if out.code != tc.code || out.stdout != "" || f.emu.Total() != 0 {
				t.Fatalf("exit %d, stdout %q, %d IMDS requests; want %d, empty, 0\nstderr:\n%s", out.code, out.stdout, f.emu.Total(), tc.code, out.stderr)
			}
		})
	}
}

func TestUnknownUserNeverReachesIMDS(t *testing.T) {
	getent, err := exec.LookPath("getent")
	if err != nil {
		t.Skip("no getent on this machine")
	}
	f := newFixture(t, setup{getent: getent})
	f.push(t, "nosuchuser-eic", newKey(t, "ed25519"))
	out := f.run(t, "nosuchuser-eic")
	if out.code != 0 || out.stdout != "" || f.emu.Total() != 0 {
		t.Fatalf("exit %d, stdout %q, %d IMDS requests; want 0, empty, 0\nstderr:\n%s", out.code, out.stdout, f.emu.Total(), out.stderr)
	}
	mustContain(t, "log", out.stderr, "user does not exist")
}

func TestIMDSFaultsFailClosed(t *testing.T) {
	tests := []struct {
		name   string
		faults emulator.Faults
		closed bool
		want   string
	}{
		{name: "server-error", faults: emulator.Faults{Status: 500}, want: "500"},
		{name: "throttled", faults: emulator.Faults{Status: 429}, want: "429"},
		{name: "hang-past-deadline", faults: emulator.Faults{Hang: true}, want: "deadline"},
		{name: "no-token-no-v1-fallback", faults: emulator.Faults{NoTokens: true}, want: "IMDSv1"},
		{name: "oversize-body", faults: emulator.Faults{Oversize: true}, want: "larger than"},
		{name: "connection-refused", closed: true, want: "refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{deadline: "1s"})
			f.push(t, "alice", newKey(t, "ed25519"))
			f.emu.SetFaults(tc.faults)
			if tc.closed {
				f.srv.Close()
			}
			out := f.run(t, "alice")
			if out.code != 1 || out.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 1 and nothing\nstderr:\n%s", out.code, out.stdout, out.stderr)
			}
			mustContain(t, "log", out.stderr, "lookup failed", tc.want)
		})
	}
}

func TestUntrustedSignerServesNothing(t *testing.T) {
	expired, err := pki.New(pki.Options{SignerNotBefore: time.Now().Add(-48 * time.Hour), SignerNotAfter: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		setup  setup
		faults emulator.Faults
		want   string
	}{
		{name: "signer-staple-revoked", faults: emulator.Faults{SignerStaple: emulator.StapleRevoked}, want: "staple-revoked"},
		{name: "intermediate-staple-revoked", faults: emulator.Faults{IntermediateStaple: emulator.StapleRevoked}, want: "staple-revoked"},
		{name: "signer-staple-missing", faults: emulator.Faults{SignerStaple: emulator.StapleMissing}, want: "staple-missing"},
		{name: "intermediate-staple-missing", faults: emulator.Faults{IntermediateStaple: emulator.StapleMissing}, want: "staple-missing"},
		{name: "staple-stale", faults: emulator.Faults{SignerStaple: emulator.StapleStale}, want: "staple-stale"},
		{name: "staple-not-yet-valid", faults: emulator.Faults{SignerStaple: emulator.StapleNotYetValid}, want: "staple-not-yet-valid"},
		{name: "staple-other-serial", faults: emulator.Faults{SignerStaple: emulator.StapleOtherSerial}, want: "staple-missing"},
		{name: "staple-unrelated-key", faults: emulator.Faults{SignerStaple: emulator.StapleUnrelated}, want: "staple-"},
		{name: "staple-garbage", faults: emulator.Faults{IntermediateStaple: emulator.StapleGarbage}, want: "staple-"},
		{name: "domain-not-allowed", faults: emulator.Faults{Domain: "attacker.example"}, want: "allow-list"},
		{name: "signer-for-other-region", setup: setup{pki: testPKI(t, "us-west-2", "amazonaws.com")}, want: "wrong-signer-name"},
		{name: "signer-for-other-domain", setup: setup{pki: testPKI(t, "us-east-1", "amazonaws.com.cn")}, want: "wrong-signer-name"},
		{name: "unknown-root", setup: setup{caPKI: testPKI(t, "eu-west-1", "amazonaws.com")}, want: "untrusted-chain"},
		{name: "expired-signer", setup: setup{pki: expired}, want: "untrusted-chain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.setup)
			f.push(t, "alice", newKey(t, "ed25519"))
			f.emu.SetFaults(tc.faults)
			out := f.run(t, "alice")
			if out.code != 1 || out.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 1 and nothing\nstderr:\n%s", out.code, out.stdout, out.stderr)
			}
			mustContain(t, "log", out.stderr, tc.want, "untrusted-signer")
		})
	}
}

func TestTrustedSignerVariants(t *testing.T) {
	tests := []struct {
		name        string
		setup       setup
		faults      emulator.Faults
		extraDomain string
	}{
		{name: "chain-includes-root", faults: emulator.Faults{ChainIncludesRoot: true}},
		{name: "delegated-ocsp-responder", faults: emulator.Faults{SignerStaple: emulator.StapleDelegated, IntermediateStaple: emulator.StapleDelegated}},
		{name: "staples-named-by-sha256", faults: emulator.Faults{StapleNames256: true}},
		{name: "local-zone", setup: setup{region: "us-west-2", zone: "us-west-2-lax-1a"}},
		{name: "wavelength-zone", setup: setup{region: "us-east-1", zone: "us-east-1-wl1-bos-wlz-1"}},
		{name: "configured-extra-domain", setup: setup{domain: "example.internal", pki: testPKI(t, "us-east-1", "example.internal")}, extraDomain: "example.internal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.setup)
			if tc.extraDomain != "" {
				addExtraDomain(t, f.config, tc.extraDomain)
			}
			key := newKey(t, "ed25519")
			f.push(t, "alice", key)
			f.emu.SetFaults(tc.faults)
			out := f.run(t, "alice")
			if out.code != 0 || out.stdout != testkit.Line(key)+"\n" {
				t.Fatalf("exit %d, stdout %q; want 0 and the key\nstderr:\n%s", out.code, out.stdout, out.stderr)
			}
		})
	}
}

func addExtraDomain(t *testing.T, path, domain string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "[trust]\n", fmt.Sprintf("[trust]\nextra_domains = [%q]\n", domain), 1)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadBlocksDoNotHideGoodOnes(t *testing.T) {
	f := newFixture(t, setup{})
	good, other := newKey(t, "ed25519"), newKey(t, "ed25519")
	keyLine := func(k ssh.PublicKey) string { return testkit.Line(k) }
	future := fmt.Sprint(time.Now().Add(time.Minute).Unix())
	past := fmt.Sprint(time.Now().Add(-time.Second).Unix())
	sign := func(lines ...string) string {
		b, err := f.emu.SignBlock(lines)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	id := f.emu.InstanceID()
	blocks := []string{
		sign("#Timestamp="+past, "#Instance="+id, "#Caller=c", "#Request=expired", keyLine(other)),
		sign("#Timestamp="+future, "#Instance=i-00000000000000000", "#Request=other-instance", keyLine(other)),
		sign("#Timestamp="+future, "#Instance="+id, "#Request=options", `command="/bin/sh" `+keyLine(other)),
		strings.Replace(sign("#Timestamp="+future, "#Instance="+id, "#Caller=arn:aws:iam::1:user/a", "#Request=tampered", keyLine(other)), "user/a", "user/b", 1),
		sign("#Timestamp="+future, "#Instance="+id, "#Request=missing-caller-ok", "#Zzz=unknown field", keyLine(good)),
	}
	f.emu.SetRawKeys("alice", []byte(strings.Join(blocks, "\n\n")+"\n"))
	out := f.run(t, "alice")
	if out.code != 0 || out.stdout != testkit.Line(good)+"\n" {
		t.Fatalf("exit %d, stdout %q; want 0 and only the good key\nstderr:\n%s", out.code, out.stdout, out.stderr)
	}
	mustContain(t, "log", out.stderr, "reason=expired", "reason=other-instance", "reason=key-options", "reason=bad-signature")
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[imds]\nendpont = \"http://x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown-key-named", []string{"--config", bad, "alice"}, `imds.endpont`},
		{"missing-explicit-file", []string{"--config", filepath.Join(dir, "nope.toml"), "alice"}, "nope.toml"},
		{"too-many-arguments", []string{"a", "b", "c"}, "usage:"},
		{"no-arguments", nil, "usage:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := runBin(t, tc.args...)
			if out.code != 2 || out.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing", out.code, out.stdout)
			}
			mustContain(t, "stderr", out.stderr, tc.want)
		})
	}
}

func TestUserNamedVerifyIsLookedUp(t *testing.T) {
	// As sshd calls it: no --config, so "verify" is the first argument. No account named verify
	// exists here, so the lookup ends at the NSS check, before any network traffic.
	if _, err := exec.LookPath("getent"); err != nil {
		t.Skip("no getent on this machine")
	}
	for _, args := range [][]string{{"verify"}, {"verify", "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}} {
		t.Run(strings.Join(args, "-"), func(t *testing.T) {
			out := runBin(t, args...)
			if out.code != 0 || out.stdout != "" || strings.Contains(out.stderr, "usage") {
				t.Fatalf("exit %d, stdout %q; want a user lookup (0, nothing)\nstderr:\n%s", out.code, out.stdout, out.stderr)
			}
			// With the default config, logs go to stderr only where no journald or syslog runs.
			if out.stderr != "" {
				mustContain(t, "log", out.stderr, "user does not exist", "user=verify")
			}
		})
	}
}
