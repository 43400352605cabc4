// Package systemd holds eic-agent's unit files; this test checks them with systemd-analyze:
// verify must print nothing (it exits 0 even on warnings such as unknown keys) and the service's
// offline security exposure must be 2.0 or lower.
//
// The units are checked in a temp root with the system's unit directory and a stub
// /usr/sbin/eic-agent, so verify finds the targets and the ExecStart binary without anything
// being installed. Without systemd-analyze the test skips, unless EIC_REQUIRE_SYSTEMD_ANALYZE=1
// (CI) makes that a failure.
package systemd

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var units = []string{"eic-agent.service", "eic-agent.socket"}

// maxExposure is the highest "Overall exposure level" allowed for eic-agent.service.
const maxExposure = 2.0

func analyzer(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("EIC_REQUIRE_SYSTEMD_ANALYZE") == "1" {
			t.Fatalf("systemd-analyze is required (EIC_REQUIRE_SYSTEMD_ANALYZE=1) but not installed: apt-get install -y systemd")
		}
		t.Skip("systemd-analyze not installed (apt-get install -y systemd); unit files unchecked")
	}
	return p
}

// root builds a filesystem root holding the system's units, ours (after edit, when set), a stub
// /usr/sbin/eic-agent and /bin/kill.
func root(t *testing.T, edit func(name, text string) string) string {
	t.Helper()
	r := t.TempDir()
	var sysUnits string
	for _, d := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			sysUnits = d
			break
		}
	}
	if sysUnits == "" {
		t.Skip("no system unit directory (/usr/lib/systemd/system) to verify against")
	}
	if err := os.CopyFS(filepath.Join(r, "usr/lib/systemd/system"), os.DirFS(sysUnits)); err != nil {
		t.Fatal(err)
	}
	write := func(rel string, data []byte, mode fs.FileMode) {
		p := filepath.Join(r, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("usr/sbin/eic-agent", []byte("#!/bin/sh\n"), 0o755)
	write("bin/kill", []byte("#!/bin/sh\n"), 0o755)
	for _, u := range units {
		text, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			text = []byte(edit(u, string(text)))
		}
		write(filepath.Join("etc/systemd/system", u), text, 0o644)
	}
	return r
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(analyzer(t), args...)
	cmd.Env = []string{"SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "PATH=" + os.Getenv("PATH")}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func verify(t *testing.T, r string) (string, error) {
	return run(t, append([]string{"verify", "--root=" + r, "--man=no"}, units...)...)
}

var exposureRe = regexp.MustCompile(`Overall exposure level for eic-agent\.service: ([0-9.]+)`)

func exposure(t *testing.T, r string) float64 {
	t.Helper()
	out, err := run(t, "security", "--offline=true", "--root="+r, "eic-agent.service")
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := exposureRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in systemd-analyze security output:\n%s", out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUnitsVerifyClean(t *testing.T) {
	if out, err := verify(t, root(t, nil)); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: err %v, want no error and no output; got:\n%s", err, out)
	}
}

func TestServiceExposure(t *testing.T) {
	if got := exposure(t, root(t, nil)); got > maxExposure {
		t.Errorf("eic-agent.service exposure %.1f, want <= %.1f (systemd-analyze security --offline=true systemd/eic-agent.service)", got, maxExposure)
	}
}

// TestChecksCatchProblems makes sure the two checks above can fail.
func TestChecksCatchProblems(t *testing.T) {
	t.Run("unknown-key-reported-by-verify", func(t *testing.T) {
		r := root(t, func(name, text string) string {
			if name == "eic-agent.service" {
				return strings.Replace(text, "[Service]\n", "[Service]\nNoSuchSetting=yes\n", 1)
			}
			return text
		})
		if out, _ := verify(t, r); !strings.Contains(out, "NoSuchSetting") {
			t.Errorf("verify did not report an unknown key; output:\n%s", out)
		}
	})
	t.Run("unhardened-service-exposed", func(t *testing.T) {
		r := root(t, func(name, text string) string {
			if name != "eic-agent.service" {
				return text
			}
			head, _, _ := strings.Cut(text, "NoNewPrivileges=")
			return head + "\n[Install]\nWantedBy=multi-user.target\n"
		})
		if got := exposure(t, r); got <= maxExposure {
			t.Errorf("service without hardening: exposure %.1f, want > %.1f", got, maxExposure)
		}
	})
}

// TestServiceSettings pins the settings the design depends on.
func TestServiceSettings(t *testing.T) {
	text, err := os.ReadFile("eic-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(text), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{
		"Type=notify",
		"ExecStart=/usr/sbin/eic-agent run",
		"User=ec2-instance-connect",
		"RuntimeDirectory=eic-agent",
		"RuntimeDirectoryPreserve=yes",
		"IPAddressDeny=any",
		"IPAddressAllow=169.254.169.254 fd00:ec2::254 localhost",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
		"NoNewPrivileges=yes",
		"CapabilityBoundingSet=",
	} {
		if !lines[want] {
			t.Errorf("eic-agent.service lacks %q", want)
		}
	}
	for _, l := range strings.Split(string(text), "\n") {
		for _, bad := range []string{"Before=sshd", "Before=ssh.service", "network-online.target"} {
			if strings.Contains(l, bad) && !strings.HasPrefix(strings.TrimSpace(l), "#") {
				t.Errorf("eic-agent.service line %q: it must never delay sshd or boot", l)
			}
		}
	}
}
