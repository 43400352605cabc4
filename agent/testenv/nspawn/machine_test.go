//go:build nspawn

package nspawn

// The host side shared by every test here: one boot of a cached root on an overlay, inside a
// private mount namespace, with a check unit that records its steps into a results directory,
// and the checks that the boot left the host as it found it.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireEnv=1 (make nspawn, CI) turns every skip into a failure.
const requireEnv = "EIC_NSPAWN_REQUIRE"

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

// machine is one boot of a cached root: upper is the overlay's upper layer (what the test
// installs before the boot), in is bound read-only at /eic-in, results read-write at
// /eic-results.
type machine struct {
	name                                string
	lower, upper, work, merged, res, in string
}

func newMachine(t *testing.T, name, lower string) *machine {
	t.Helper()
	m := &machine{name: name, lower: lower}
	base := t.TempDir()
	for _, d := range []struct {
		p    *string
		name string
	}{{&m.upper, "upper"}, {&m.work, "work"}, {&m.merged, "merged"}, {&m.res, "results"}, {&m.in, "in"}} {
		*d.p = filepath.Join(base, d.name)
		// 0755: the upper directory's mode becomes the container's "/".
		if err := os.Mkdir(*d.p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(*d.p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// checkUnit installs script as the unit the container runs once booted; the unit powers the
// container off when the script ends, whether it succeeded or not.
func (m *machine) checkUnit(t *testing.T, unit, script string) {
	t.Helper()
	copyFile(t, unit, filepath.Join(m.upper, "etc/systemd/system/eic-nspawn-check.service"), 0o644)
	copyFile(t, script, filepath.Join(m.upper, "usr/local/sbin/eic-nspawn-check"), 0o755)
	wants := filepath.Join(m.upper, "etc/systemd/system/multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../eic-nspawn-check.service", filepath.Join(wants, "eic-nspawn-check.service")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"eic-results", "eic-in"} {
		if err := os.MkdirAll(filepath.Join(m.upper, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// run boots the machine until it powers itself off (at most timeout), and returns what the
// check recorded. A container that never started its check skips the test (fails it under
// EIC_NSPAWN_REQUIRE=1); one whose check did not finish fails it. Afterwards the subtest
// host-left-clean checks that no mount, process or change to the cached root is left behind.
func (m *machine) run(t *testing.T, ctx context.Context, timeout time.Duration) results {
	t.Helper()
	lowerSum := rootSum(t, m.lower)
	before := hostMounts(t)
	bootCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	console, err := boot(bootCtx, m)
	t.Logf("systemd-nspawn %s ran for %s", m.name, time.Since(start).Round(100*time.Millisecond))
	r := results(m.res)
	if keep := os.Getenv("EIC_NSPAWN_KEEP_RESULTS"); keep != "" {
		// For debugging: what the check recorded (journal included) outlives the test.
		if err := os.CopyFS(filepath.Join(keep, m.name), os.DirFS(m.res)); err != nil {
			t.Errorf("keep results in %s: %v", keep, err)
		}
		write(t, filepath.Join(keep, m.name, "console"), console, 0o644)
	}
	if !r.exists("started") {
		skip(t, "systemd-nspawn could not boot %s here (the check unit never ran): %v\nconsole (last lines):\n%s",
			m.name, err, tail(console, 30))
	}
	t.Run("host-left-clean", func(t *testing.T) {
		if got := hostMounts(t); got != before {
			t.Errorf("host mounts changed:\nwant\n%s\ngot\n%s", before, got)
		}
		if left := processesIn(strings.Fields(r.out("namespaces"))); len(left) > 0 {
			t.Errorf("processes left in the container's namespaces: %v", left)
		}
		if got := rootSum(t, m.lower); got != lowerSum {
			t.Errorf("cached root %s changed (etc/passwd or unit directory): %s, want %s", m.lower, got, lowerSum)
		}
	})
	if err != nil || !r.exists("done") {
		t.Fatalf("container %s: err %v, check finished %v\nconsole (last lines):\n%s\njournal (last lines):\n%s",
			m.name, err, r.exists("done"), tail(console, 30), tail([]byte(r.out("journal-all")), 60))
	}
	return r
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
	--system-call-filter=bpf --console=pipe --link-journal=no --resolv-conf=off --timezone=off --machine="$7" \
	--bind="$5:/eic-results" --bind-ro="$6:/eic-in"
`

// boot runs the container until it powers itself off, or ctx ends (then it is asked to stop,
// and killed 30 s later). It returns the console output.
func boot(ctx context.Context, m *machine) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", bootScript, "sh", m.lower, m.upper, m.work, m.merged, m.res, m.in, m.name)
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

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dst, b, mode)
}

// results reads what the check script recorded.
type results string

func (r results) read(name string) string {
	b, _ := os.ReadFile(filepath.Join(string(r), name))
	return string(b)
}
func (r results) exists(name string) bool {
	_, err := os.Stat(filepath.Join(string(r), name))
	return err == nil
}
func (r results) out(step string) string { return r.read(step + ".out") }
func (r results) err(step string) string { return r.read(step + ".err") }

// rc is a step's exit status, -1 when the step never ran.
func (r results) rc(step string) int {
	n, err := strconv.Atoi(strings.TrimSpace(r.read(step + ".rc")))
	if err != nil {
		return -1
	}
	return n
}

// journal parses `journalctl -o json`, keeping the string fields.
func journal(t *testing.T, s string) []map[string]string {
	t.Helper()
	var out []map[string]string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		e := map[string]string{}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				e[k] = s
			}
		}
		out = append(out, e)
	}
	return out
}

func hostMounts(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var pts []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			pts = append(pts, f[4])
		}
	}
	return strings.Join(pts, "\n")
}

// processesIn lists host processes in any of the namespaces (as readlink prints them).
func processesIn(namespaces []string) []string {
	want := map[string]bool{}
	for _, n := range namespaces {
		want[n] = true
	}
	var left []string
	links, _ := filepath.Glob("/proc/[0-9]*/ns/*")
	for _, l := range links {
		if ns, err := os.Readlink(l); err == nil && want[ns] {
			pid := strings.Split(l, "/")[2]
			cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			left = append(left, fmt.Sprintf("%s (%s) %s", pid, ns, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return left
}

// rootSum fingerprints the parts of the cached root a leaking run would touch first.
func rootSum(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	for _, f := range []string{"etc/passwd", "etc/group", "etc/ssh/sshd_config", stamp} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	for _, d := range []string{"etc/systemd/system", "etc/ssh/sshd_config.d", "var/lib/dpkg/info"} {
		ents, err := os.ReadDir(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			fmt.Fprintln(h, d, e.Name())
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
