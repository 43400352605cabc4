//go:build nspawn

package nspawn

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestUnitsUnderSystemd boots the container once and checks what its check unit recorded.
func TestUnitsUnderSystemd(t *testing.T) {
	if why := canRun(); why != "" {
		skip(t, "%s", why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	lower := cachedRoot(t, ctx)
	lowerSum := rootSum(t, lower)

	dir := t.TempDir()
	bin, upper, work, merged, res, in := mkdirs(t, dir, "bin", "upper", "work", "merged", "results", "in")
	build(t, bin)
	key, other := newKey(t), newKey(t)
	upperLayer(t, upper, bin, in, key, other)

	before := hostMounts(t)
	bootCtx, bootCancel := context.WithTimeout(ctx, 5*time.Minute)
	defer bootCancel()
	start := time.Now()
	console, err := boot(bootCtx, lower, upper, work, merged, res, in)
	t.Logf("systemd-nspawn ran for %s", time.Since(start).Round(100*time.Millisecond))
	r := results(res)
	if keep := os.Getenv("EIC_NSPAWN_KEEP_RESULTS"); keep != "" {
		// For debugging: what the check recorded (journal included) outlives the test.
		if err := os.CopyFS(keep, os.DirFS(res)); err != nil {
			t.Errorf("keep results in %s: %v", keep, err)
		}
	}
	if !r.exists("started") {
		skip(t, "systemd-nspawn could not boot the container here (the check unit never ran): %v\nconsole (last lines):\n%s",
			err, tail(console, 30))
	}
	if err != nil || !r.exists("done") {
		t.Fatalf("container run: err %v, check finished %v\nconsole (last lines):\n%s\njournal (last lines):\n%s",
			err, r.exists("done"), tail(console, 30), tail([]byte(r.out("journal-all")), 60))
	}

	t.Run("host-left-clean", func(t *testing.T) {
		if got := hostMounts(t); got != before {
			t.Errorf("host mounts changed:\nwant\n%s\ngot\n%s", before, got)
		}
		if left := processesIn(strings.Fields(r.out("namespaces"))); len(left) > 0 {
			t.Errorf("processes left in the container's namespaces: %v", left)
		}
		if got := rootSum(t, lower); got != lowerSum {
			t.Errorf("cached root %s changed (etc/passwd or unit directory): %s, want %s", lower, got, lowerSum)
		}
	})

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

func mkdirs(t *testing.T, base string, names ...string) (a, b, c, d, e, f string) {
	t.Helper()
	var out []string
	for _, n := range names {
		p := filepath.Join(base, n)
		// 0755: the upper directory's mode becomes the container's "/".
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out[0], out[1], out[2], out[3], out[4], out[5]
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

func properties(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
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
	for _, f := range []string{"etc/passwd", "etc/group", stamp} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	ents, err := os.ReadDir(filepath.Join(root, "etc/systemd/system"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fmt.Fprintln(h, e.Name())
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
