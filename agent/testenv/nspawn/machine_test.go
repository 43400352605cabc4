//go:build nspawn

package nspawn

// The host side: the cached Debian root, the overlay's upper layer holding what a package would
// install, and one boot of the container.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	// rootEnv names the directory of the cached root; mirrorEnv the Debian mirror debootstrap uses.
	rootEnv     = "EIC_NSPAWN_ROOT"
	defaultRoot = "/var/tmp/eic-nspawn-root"
	mirrorEnv   = "EIC_NSPAWN_MIRROR"
	// requireEnv=1 (make nspawn, CI) turns every skip into a failure.
	requireEnv = "EIC_NSPAWN_REQUIRE"
	// stamp marks a finished debootstrap; its content names what was asked for, so a cache
	// built with other packages is rebuilt rather than trusted.
	stamp        = ".eic-nspawn-root"
	rootPackages = "systemd,systemd-sysv,iproute2"

	instanceID      = "i-0123456789abcdef0" // the emulator's default
	otherInstanceID = "i-0fedcba9876543210"
	sysfsRoot       = "/opt/eic-fake-sys"
)

// skip skips the test for a reason of this host's, or fails it when the test is required.
func skip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf("required (%s=1) but cannot run: "+format, append([]any{requireEnv}, args...)...)
	}
	t.Skipf(format, args...)
}

// canRun says why the container cannot be booted here, or "" when it can.
func canRun() string {
	if os.Geteuid() != 0 {
		return "needs root (mounts, systemd-nspawn)"
	}
	for _, bin := range []string{"systemd-nspawn", "unshare", "mount"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " is missing: apt-get install systemd-container debootstrap (make nspawn-deps)"
		}
	}
	return ""
}

// cachedRoot returns the cached Debian 12 root, debootstrapping it first when it is missing.
func cachedRoot(t *testing.T, ctx context.Context) string {
	t.Helper()
	dir := os.Getenv(rootEnv)
	if dir == "" {
		dir = defaultRoot
	}
	if b, err := os.ReadFile(filepath.Join(dir, stamp)); err == nil && string(b) == rootPackages+"\n" {
		return dir
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		skip(t, "no cached root at %s and debootstrap is missing: apt-get install debootstrap", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("remove stale root %s: %v", dir, err)
	}
	mirror := os.Getenv(mirrorEnv)
	if mirror == "" {
		mirror = "http://deb.debian.org/debian"
	}
	tmp := fmt.Sprintf("%s.tmp-%d", dir, os.Getpid())
	defer os.RemoveAll(tmp)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+rootPackages,
		"bookworm", tmp, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debootstrap into %s: %v\n%s", tmp, err, tail(out, 40))
	}
	if err := os.WriteFile(filepath.Join(tmp, stamp), []byte(rootPackages+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Rename last, so an interrupted debootstrap never looks like a cache.
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatalf("cache root: %v", err)
	}
	t.Logf("debootstrapped %s in %s", dir, time.Since(start).Round(time.Second))
	return dir
}

// keyPair is a pushed key: its authorized_keys line and its fingerprint.
type keyPair struct{ line, fingerprint string }

func newKey(t *testing.T) keyPair {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{line: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))), fingerprint: ssh.FingerprintSHA256(sp)}
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
func upperLayer(t *testing.T, upper, bin, in string, key, other keyPair) {
	t.Helper()
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	copyFile := func(src, dst string, mode os.FileMode) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(upper, dst), b, mode)
	}
	for _, c := range []string{"eic-agent", "eic-authorized-keys", "eic-emulator"} {
		copyFile(filepath.Join(bin, c), "/usr/sbin/"+c, 0o755)
	}
	for _, u := range []string{"eic-agent.service", "eic-agent.socket"} {
		copyFile(filepath.Join(repo, "systemd", u), "/etc/systemd/system/"+u, 0o644)
	}
	copyFile("testdata/eic-nspawn-check.service", "/etc/systemd/system/eic-nspawn-check.service", 0o644)
	copyFile("testdata/eic-nspawn-check.sh", "/usr/local/sbin/eic-nspawn-check", 0o755)
	wants := filepath.Join(upper, "etc/systemd/system/multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../eic-nspawn-check.service", filepath.Join(wants, "eic-nspawn-check.service")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(upper, sysfsRoot, "devices/virtual/dmi/id/board_asset_tag"), []byte(instanceID+"\n"), 0o444)
	// Everything else default: IMDS at http://169.254.169.254, journald logging.
	write(t, filepath.Join(upper, "/etc/eic-agent/config.toml"), []byte(fmt.Sprintf(
		"# written by the nspawn test\n[trust]\nca = \"/etc/eic-agent/root.pem\"\n[platform]\nsysfs_root = %q\n",
		sysfsRoot)), 0o644)
	for _, d := range []string{"eic-results", "eic-in"} {
		if err := os.MkdirAll(filepath.Join(upper, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(in, "key.pub"), []byte(key.line+"\n"), 0o644)
	write(t, filepath.Join(in, "other.pub"), []byte(other.line+"\n"), 0o644)
	write(t, filepath.Join(in, "env"), []byte(fmt.Sprintf("FP='%s'\nFP_OTHER='%s'\nOTHER_INSTANCE='%s'\n",
		key.fingerprint, other.fingerprint, otherInstanceID)), 0o644)
}

func write(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask; the container must see exactly this one.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// bootScript runs in a private mount namespace: a tmpfs on /run keeps nspawn's own state
// (/run/systemd/nspawn) off the host, the overlay keeps the cached root clean, and both vanish
// with the namespace when nspawn exits. The container gets cgroup v2 and the bpf() system call
// (nspawn's filter refuses it by default) because that is what systemd needs to enforce
// IPAddressAllow= and DevicePolicy=; without them it silently runs the service unfiltered.
const bootScript = `set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4"
export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
exec systemd-nspawn --quiet --directory="$4" --boot --register=no --keep-unit --private-network \
	--system-call-filter=bpf --console=pipe --link-journal=no --resolv-conf=off --timezone=off --machine=eic-nspawn-test \
	--bind="$5:/eic-results" --bind-ro="$6:/eic-in"
`

// boot runs the container until it powers itself off, or ctx ends (then it is asked to stop,
// and killed 30 s later). It returns the console output.
func boot(ctx context.Context, lower, upper, work, merged, results, in string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", bootScript, "sh", lower, upper, work, merged, results, in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// SIGTERM makes nspawn shut the container down cleanly; SIGKILL if that takes too long.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, fmt.Errorf("container did not power off in time: %w", ctx.Err()))
	}
	return out.Bytes(), err
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
