package doctor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/config"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCheck fails t unless c has the status and its detail and remedy contain the fragments.
func wantCheck(t *testing.T, c Check, status Status, detail, remedy string) {
	t.Helper()
	if c.Status != status || !strings.Contains(c.Detail, detail) || !strings.Contains(c.Remedy, remedy) {
		t.Fatalf("check %s:\n got  %s %q (remedy %q)\n want %s with detail containing %q, remedy containing %q",
			c.Name, c.Status, c.Detail, c.Remedy, status, detail, remedy)
	}
	if status != OK && c.Remedy == "" {
		t.Fatalf("check %s is %s without a remedy", c.Name, status)
	}
}

// needRoot skips tests whose subject (sshd -T, file ownership) behaves as it does for doctor
// only when run as root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: doctor runs as root, and sshd -T and ownership rules assume it")
	}
}

// sshdFixture writes an sshd_config (body) and a host key into a temp dir and returns the
// options that make doctor's sshd -T read them.
func sshdFixture(t *testing.T, body string) Options {
	t.Helper()
	needRoot(t)
	if _, err := os.Stat(DefaultSSHD); err != nil {
		t.Skipf("no %s: install openssh-server", DefaultSSHD)
	}
	// sshd -T insists on its privilege separation directory, which only a started sshd makes
	// (a fresh CI machine has none): make it for the test, and leave the host as it was.
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		if err := os.Mkdir("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove("/run/sshd") })
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "host_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	conf := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return Options{Config: config.Default(), SSHDArgs: []string{"-f", conf, "-h", key}, User: "alice"}
}
