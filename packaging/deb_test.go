//go:build packages

package packaging

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDebMetadata: the control fields that make the .deb replace the official package, and the
// maintainer scripts and conffile it must carry.
func TestDebMetadata(t *testing.T) {
	need(t, "dpkg-deb", "tar")
	for _, a := range arches {
		t.Run(a.deb, func(t *testing.T) {
			deb := debFile(t, a.deb)
			want := map[string]string{
				"Package":      "eic-agent",
				"Version":      pkgVersion(version(t)),
				"Architecture": a.deb,
				"Depends":      "openssh-server",
				"Provides":     "ec2-instance-connect",
				"Replaces":     "ec2-instance-connect",
				"Conflicts":    "ec2-instance-connect",
				"Recommends":   "",
				"Pre-Depends":  "",
				"Section":      "admin",
			}
			for field, w := range want {
				if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, field)); got != w {
					t.Errorf("%s: %q, want %q", field, got, w)
				}
			}
			if m := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Maintainer")); !strings.Contains(m, "@") {
				t.Errorf("Maintainer %q: want a name and an address", m)
			}
			// The control archive: exactly these members, the scripts executable.
			var got []string
			ctrl := t.TempDir()
			run(t, "dpkg-deb", "--control", deb, ctrl)
			for _, l := range lines(run(t, "ls", "-l", ctrl)) {
				if f := strings.Fields(l); len(f) >= 9 {
					got = append(got, f[0][:4]+" "+f[8])
				}
			}
			wantCtrl := []string{"-rw- conffiles", "-rw- control", "-rw- md5sums",
				"-rwx postinst", "-rwx postrm", "-rwx prerm"}
			if diff := cmp.Diff(wantCtrl, got); diff != "" {
				t.Errorf("control archive (-want +got):\n%s", diff)
			}
			if c := run(t, "cat", ctrl+"/conffiles"); c != "/etc/eic-agent/config.toml\n" {
				t.Errorf("conffiles %q, want only /etc/eic-agent/config.toml", c)
			}
		})
	}
}

// TestDebFiles: the exact file list, with modes and owners; directories root-owned 0755.
func TestDebFiles(t *testing.T) {
	need(t, "dpkg-deb")
	for _, a := range arches {
		t.Run(a.deb, func(t *testing.T) {
			var files []string
			for _, l := range lines(run(t, "dpkg-deb", "-c", debFile(t, a.deb))) {
				// -rw-r--r-- root/root 2360 2026-11-30 22:04 ./etc/eic-agent/config.toml [-> target]
				f := strings.Fields(l)
				if len(f) < 6 {
					t.Fatalf("dpkg-deb -c line %q", l)
				}
				mode, owner, path := f[0], strings.Replace(f[1], "/", ":", 1), strings.TrimPrefix(f[5], ".")
				if mode[0] == 'd' {
					if mode != "drwxr-xr-x" || owner != "root:root" {
						t.Errorf("directory %s: %s %s, want drwxr-xr-x root:root", path, mode, owner)
					}
					continue
				}
				if mode[0] == 'l' {
					mode = "l"
				}
				files = append(files, strings.Join(append([]string{mode, owner, path}, f[6:]...), " "))
			}
			want := append(slices.Clone(payload),
				"-rw-r--r-- root:root /usr/share/doc/eic-agent/LICENSE",
				"-rw-r--r-- root:root /usr/share/doc/eic-agent/copyright",
				"-rw-r--r-- root:root /usr/share/lintian/overrides/eic-agent")
			slices.Sort(want)
			slices.Sort(files)
			if diff := cmp.Diff(want, files); diff != "" {
				t.Errorf("file list (-want +got):\n%s", diff)
			}
			checkModes(t, files)
		})
	}
}

// lintianAllowed are the warnings left in place, each with its reason. Errors are never allowed
// (overrides shipped in packaging/lintian/eic-agent say why the ones that do not apply don't);
// a warning not listed here fails the test.
var lintianAllowed = map[string]string{}

// lintianFinding parses "E: eic-agent: tag [pointer]".
func lintianFinding(l string) (sev, tag string, ok bool) {
	sev, rest, ok := strings.Cut(l, ": ")
	if !ok || len(sev) != 1 {
		return "", "", false
	}
	_, rest, _ = strings.Cut(rest, ": ")
	tag, _, _ = strings.Cut(rest, " ")
	return sev, tag, true
}

func TestLintian(t *testing.T) {
	need(t, "lintian")
	for _, a := range arches {
		t.Run(a.deb, func(t *testing.T) {
			// lintian exits 2 on errors; the output is judged below either way.
			out, _ := runCode("lintian", "--no-tag-display-limit", debFile(t, a.deb))
			checkLint(t, "lintian", out, lintianFinding, lintianAllowed)
		})
	}
}

// checkLint fails on every error and every warning not in allowed, and logs the warnings left.
func checkLint(t *testing.T, tool, out string, parse func(string) (string, string, bool), allowed map[string]string) {
	t.Helper()
	bad, left := judge(tool, out, parse, allowed)
	for _, l := range left {
		t.Log(l)
	}
	for _, b := range bad {
		t.Error(b)
	}
	if len(bad) > 0 {
		t.Logf("%s output:\n%s", tool, out)
	}
}

// judge sorts a linter's findings: parse gives a line's severity letter and tag, or false for
// lines that are not findings. Errors and unexplained warnings are bad.
func judge(tool, out string, parse func(string) (string, string, bool), allowed map[string]string) (bad, left []string) {
	for _, l := range lines(out) {
		sev, tag, ok := parse(l)
		switch {
		case !ok:
		case sev == "E":
			bad = append(bad, fmt.Sprintf("%s error: %s", tool, l))
		case sev == "W" && allowed[tag] == "":
			bad = append(bad, fmt.Sprintf("%s warning nobody explained: %s (fix it, or say why in %s's allowed list)", tool, l, tool))
		case sev == "W":
			left = append(left, fmt.Sprintf("%s warning left (%s): %s", tool, allowed[tag], l))
		}
	}
	return bad, left
}
