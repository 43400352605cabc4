//go:build nspawn

package nspawn

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// TestUnitsUnderSystemd boots the container once and checks what its check unit recorded.
func TestUnitsUnderSystemd(t *testing.T) {
	if why := canRun(); why != "" {
		skip(t, "%s", why)
	}
	// Parallel with the package suite: the boots wait on I/O far more than on the CPU.
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	m := newMachine(t, "eic-nspawn-units", cachedRoot(t, ctx, "bookworm"))
	bin := t.TempDir()
	build(t, bin)
	key, other := newKey(t), newKey(t)
	upperLayer(t, m, bin, key, other)
	r := m.run(t, ctx, 5*time.Minute)

	t.Run("setup-steps-succeeded", func(t *testing.T) {
		for _, s := range []string{"useradd-service", "useradd-ec2-user", "ip-addr", "emulator-ready",
			"enable-socket", "start-service", "push", "push-other"} {
			if rc := r.rc(s); rc != 0 {
				t.Errorf("step %s: exit %d, want 0; stderr:\n%s", s, rc, r.err(s))
			}
		}
	})

	t.Run("helper-prints-pushed-key-through-service", func(t *testing.T) {
		for _, s := range []string{"helper-1", "helper-2"} {
			if rc, got := r.rc(s), r.out(s); rc != 0 || got != key.line+"\n" {
				t.Errorf("%s: exit %d, stdout %q; want exit 0, stdout %q\nstderr:\n%s", s, rc, got, key.line+"\n", r.err(s))
			}
		}
	})

	t.Run("service-running-never-restarted", func(t *testing.T) {
		want := map[string]string{"ActiveState": "active", "SubState": "running", "Result": "success", "NRestarts": "0"}
		got := properties(r.out("show"))
		for k, v := range want {
			if got[k] != v {
				t.Errorf("eic-agent.service %s=%q, want %q (systemctl show: %v)\nunit journal:\n%s",
					k, got[k], v, got, r.out("journal-unit"))
			}
		}
		if s := properties(r.out("show-socket")); s["ActiveState"] != "active" {
			t.Errorf("eic-agent.socket ActiveState=%q, want active", s["ActiveState"])
		}
	})

	entries := journal(t, r.out("journal"))

	t.Run("audit-records-say-path-service", func(t *testing.T) {
		accepts := 0
		for _, e := range entries {
			if e["EVENT"] != "accept" {
				continue
			}
			accepts++
			if e["PATH"] != "service" || e["FINGERPRINT"] != key.fingerprint || e["USER"] != "ec2-user" {
				t.Errorf("accept record PATH=%q FINGERPRINT=%q USER=%q, want service, %s, ec2-user: %s",
					e["PATH"], e["FINGERPRINT"], e["USER"], key.fingerprint, e["MESSAGE"])
			}
		}
		if accepts != 2 {
			t.Errorf("%d accept records, want 2 (one per helper run)", accepts)
		}
	})

	t.Run("service-logs-its-own-state", func(t *testing.T) {
		for _, want := range []string{"eic-agent serving", "instance identified", "signer verified"} {
			if !hasMessage(entries, want) {
				t.Errorf("journal -t ec2-instance-connect lacks the service's %q line", want)
			}
		}
	})

	t.Run("second-login-at-most-one-imds-request", func(t *testing.T) {
		first, second := total(t, r.out("counts-1")), total(t, r.out("counts-2"))
		if first < 1 {
			t.Errorf("first helper run cost %d IMDS requests, want at least 1 (the user's keys)", first)
		}
		if second > 1 {
			t.Errorf("second helper run cost %d IMDS requests, want at most 1\n%s", second, r.out("counts-2"))
		}
	})

	t.Run("other-instance-key-refused-through-service", func(t *testing.T) {
		if rc, got := r.rc("helper-other"), r.out("helper-other"); rc != 0 || got != "" {
			t.Errorf("helper-other: exit %d, stdout %q; want exit 0 and no key", rc, got)
		}
		found := false
		for _, e := range entries {
			if e["EVENT"] == "reject" && e["REASON"] == "other-instance" && e["FINGERPRINT"] == other.fingerprint {
				found = true
				if e["PATH"] != "service" {
					t.Errorf("reject record PATH=%q, want service: %s", e["PATH"], e["MESSAGE"])
				}
			}
		}
		if !found {
			t.Errorf("no reject record with REASON=other-instance for %s", other.fingerprint)
		}
	})

	t.Run("ip-allow-list-enforced", func(t *testing.T) {
		if mode := strings.TrimSpace(r.out("cgroup-mode")); mode != "cgroup2fs" {
			t.Skipf("container runs on %q, not cgroup v2: systemd cannot enforce IPAddressAllow there", mode)
		}
		if rc, e := r.rc("probe-unfiltered"), r.err("probe-unfiltered"); rc != 0 {
			t.Fatalf("UDP send to 10.99.0.1 outside the service: exit %d, stderr %q; want success (probe broken?)", rc, e)
		}
		if rc, e := r.rc("probe-service-cgroup"), r.err("probe-service-cgroup"); rc == 0 || !strings.Contains(e, "Operation not permitted") {
			t.Errorf("UDP send to 10.99.0.1 from the service's cgroup: exit %d, stderr %q; want operation not permitted", rc, e)
		}
		if rc, e := r.rc("probe-service-cgroup-loopback"), r.err("probe-service-cgroup-loopback"); rc != 0 {
			t.Errorf("UDP send to 127.0.0.1 from the service's cgroup: exit %d, stderr %q; want success", rc, e)
		}
	})
}

func properties(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

func hasMessage(entries []map[string]string, msg string) bool {
	for _, e := range entries {
		if e["MESSAGE"] == msg {
			return true
		}
	}
	return false
}

// total is the "N total" line of `eic-emulator counts`.
func total(t *testing.T, counts string) int {
	t.Helper()
	for _, l := range strings.Split(counts, "\n") {
		if n, ok := strings.CutSuffix(l, " total"); ok {
			v, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("counts line %q: %v", l, err)
			}
			return v
		}
	}
	t.Fatalf("no total in eic-emulator counts output %q", counts)
	return 0
}

const (
	instanceID      = "i-0123456789abcdef0" // the emulator's default
	otherInstanceID = "i-0fedcba9876543210"
	sysfsRoot       = "/opt/eic-fake-sys"
)

// keyPair is a pushed key: its authorized_keys line and its fingerprint.
type keyPair struct{ line, fingerprint string }

func newKey(t *testing.T) keyPair {
	t.Helper()
	k := testkit.Key(t, "ed25519")
	return keyPair{line: testkit.Line(k), fingerprint: ssh.FingerprintSHA256(k)}
}

// build compiles the shipped binaries, static as a package ships them.
func build(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", dir+"/",
		"github.com/eic-agent/eic-agent/cmd/eic-agent",
		"github.com/eic-agent/eic-agent/cmd/eic-authorized-keys",
		"github.com/eic-agent/eic-agent/cmd/eic-emulator")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

// upperLayer writes what a package would install, plus the check unit and its inputs, into the
// overlay's upper directory. Users are created inside the container by the check script.
func upperLayer(t *testing.T, m *machine, bin string, key, other keyPair) {
	t.Helper()
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"eic-agent", "eic-authorized-keys", "eic-emulator"} {
		copyFile(t, filepath.Join(bin, c), filepath.Join(m.upper, "usr/sbin", c), 0o755)
	}
	for _, u := range []string{"eic-agent.service", "eic-agent.socket"} {
		copyFile(t, filepath.Join(repo, "systemd", u), filepath.Join(m.upper, "etc/systemd/system", u), 0o644)
	}
	m.checkUnit(t, "testdata/eic-nspawn-check.service", "testdata/eic-nspawn-check.sh")
	write(t, filepath.Join(m.upper, sysfsRoot, "devices/virtual/dmi/id/board_asset_tag"), []byte(instanceID+"\n"), 0o444)
	// Everything else default: IMDS at http://169.254.169.254, journald logging.
	write(t, filepath.Join(m.upper, "/etc/eic-agent/config.toml"), []byte(fmt.Sprintf(
		"# written by the nspawn test\n[trust]\nca = \"/etc/eic-agent/root.pem\"\n[platform]\nsysfs_root = %q\n",
		sysfsRoot)), 0o644)
	write(t, filepath.Join(m.in, "key.pub"), []byte(key.line+"\n"), 0o644)
	write(t, filepath.Join(m.in, "other.pub"), []byte(other.line+"\n"), 0o644)
	write(t, filepath.Join(m.in, "env"), []byte(fmt.Sprintf("FP='%s'\nFP_OTHER='%s'\nOTHER_INSTANCE='%s'\n",
		key.fingerprint, other.fingerprint, otherInstanceID)), 0o644)
}
