//go:build packages

// Package packaging's tests check the .deb and .rpm that `make packages` puts in dist/: their
// metadata, their exact file lists with modes and owners, lintian, rpmlint and shellcheck, and
// that the arm64 binaries answer the test vectors as the amd64 ones do (under qemu-user-static).
// Run them with `make packages-check`; with EIC_PACKAGES_REQUIRE=1 or CI=true a missing tool or
// package fails the run instead of skipping.
package packaging

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// arches are the GOARCHes make packages builds, with their dpkg and rpm names.
var arches = []struct{ goarch, deb, rpm string }{
	{"amd64", "amd64", "x86_64"},
	{"arm64", "arm64", "aarch64"},
}

// strict says whether a missing tool or package fails the test (CI, make packages-check).
func strict() bool {
	return os.Getenv("EIC_PACKAGES_REQUIRE") == "1" || os.Getenv("CI") == "true"
}

// need fails or skips the test, as strict says, when a tool is not installed.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " not found: install it (make packages-deps as root) or run make packages-check"
			if strict() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// version is what make packages stamped on the packages.
func version(t *testing.T) string {
	t.Helper()
	if v := os.Getenv("PKG_VERSION"); v != "" {
		return v
	}
	return strings.TrimSpace(run(t, "sh", "version.sh"))
}

// pkgFile is the path of one built package in dist/, which must exist.
func pkgFile(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "dist", name)
	if _, err := os.Stat(p); err != nil {
		msg := "package " + p + " missing: run make packages first (make packages-check does)"
		if strict() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func debFile(t *testing.T, arch string) string {
	return pkgFile(t, "eic-agent_"+pkgVersion(version(t))+"_"+arch+".deb")
}

func rpmFile(t *testing.T, arch string) string {
	return pkgFile(t, "eic-agent-"+pkgVersion(version(t))+"-1."+arch+".rpm")
}

// pkgVersion is the Version nfpm makes of a semver for dpkg and rpm: the prerelease goes after
// '~' so that it sorts before the release ('-' would start the Debian revision).
func pkgVersion(v string) string {
	return strings.Replace(v, "-", "~", 1)
}

// run runs a command and returns its stdout; a failure fails the test with its stderr.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runCode(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// runCode runs a command; a non-zero exit is an error that carries stderr and stdout.
func runCode(name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(err.Error() + "\nstderr:\n" + stderr.String() + "\nstdout:\n" + stdout.String())
	}
	return stdout.String(), nil
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// payload is the files both packages install, as "mode owner:group path[ -> target]", without
// directories (dpkg and rpm differ in which they list), a symlink's mode shown as "l" (its own
// permissions mean nothing; nfpm writes 0). Static binaries only: the emulator and
// the demo never ship.
var payload = []string{
	"-rw-r--r-- root:root /etc/eic-agent/config.toml",
	"l root:root /opt/aws/bin/eic_run_authorized_keys -> /usr/sbin/eic-authorized-keys",
	"-rw-r--r-- root:root /usr/lib/systemd/system-preset/90-eic-agent.preset",
	"-rw-r--r-- root:root /usr/lib/systemd/system/eic-agent.service",
	"-rw-r--r-- root:root /usr/lib/systemd/system/eic-agent.socket",
	"-rw-r--r-- root:root /usr/lib/sysusers.d/eic-agent.conf",
	"-rwxr-xr-x root:root /usr/sbin/eic-agent",
	"-rwxr-xr-x root:root /usr/sbin/eic-authorized-keys",
	"-rw-r--r-- root:root /usr/share/doc/eic-agent/README.md",
	"-rw-r--r-- root:root /usr/share/doc/eic-agent/changelog.gz",
	"-rw-r--r-- root:root /usr/share/man/man5/eic-agent.toml.5.gz",
	"-rw-r--r-- root:root /usr/share/man/man8/eic-agent.8.gz",
	"-rw-r--r-- root:root /usr/share/man/man8/eic-authorized-keys.8.gz",
	"-rwxr-xr-x root:root /usr/share/eic-agent/sshd-wiring.sh",
	"-rwxr-xr-x root:root /usr/share/eic-agent/systemd-units.sh",
	"l root:root /usr/share/ec2-instance-connect/eic_run_authorized_keys -> ../../sbin/eic-authorized-keys",
}

// checkModes is the attacker's view of a file list: sshd refuses a writable command path, and
// nothing a package installs may be writable by group or others, or setuid/setgid.
func checkModes(t *testing.T, files []string) {
	t.Helper()
	for _, f := range files {
		mode, _, _ := strings.Cut(f, " ")
		if mode == "l" {
			continue // a symlink's own mode means nothing; its target is checked
		}
		if mode[5] == 'w' || mode[8] == 'w' || strings.ContainsAny(mode, "sS") {
			t.Errorf("%s: writable by group or others, or setuid/setgid", f)
		}
		if !strings.Contains(f, " root:root ") {
			t.Errorf("%s: not owned by root:root", f)
		}
		if strings.Contains(f, "emulator") || strings.Contains(f, "demo") {
			t.Errorf("%s: the emulator and the demo never ship in eic-agent", f)
		}
	}
}
