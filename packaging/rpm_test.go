//go:build packages

package packaging

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRPMMetadata: the headers that make the .rpm replace the official package, its scriptlets
// and nothing it requires beyond openssh-server.
func TestRPMMetadata(t *testing.T) {
	need(t, "rpm")
	for _, a := range arches {
		t.Run(a.rpm, func(t *testing.T) {
			p := rpmFile(t, a.rpm)
			head := run(t, "rpm", "-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE}\n", p)
			if want := "eic-agent " + pkgVersion(version(t)) + " 1 " + a.rpm + " Apache-2.0\n"; head != want {
				t.Errorf("name version release arch license %q, want %q", head, want)
			}
			for _, c := range []struct {
				query string
				want  []string
			}{
				{"--provides", []string{"ec2-instance-connect", "eic-agent = " + pkgVersion(version(t)) + "-1"}},
				{"--obsoletes", []string{"ec2-instance-connect"}},
				// Static binaries: no library. (nfpm adds no Requires(pre): /bin/sh for the
				// scriptlets; every system rpm installs on has one.)
				{"--requires", []string{"openssh-server"}},
				{"--conflicts", nil},
			} {
				got := lines(run(t, "rpm", "-qp", c.query, p))
				got = slices.DeleteFunc(got, func(l string) bool { return strings.HasPrefix(l, "rpmlib(") })
				slices.Sort(got)
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("rpm -qp %s (-want +got):\n%s", c.query, diff)
				}
			}
			scripts := run(t, "rpm", "-qp", "--scripts", p)
			for _, s := range []string{"postinstall", "preuninstall", "postuninstall"} {
				if !strings.Contains(scripts, s+" scriptlet (using /bin/sh):\n#!/bin/sh\n") {
					t.Errorf("no %s scriptlet run by /bin/sh:\n%s", s, scripts)
				}
			}
		})
	}
}

// TestRPMFiles: the exact file list with modes, owners and flags (config noreplace, doc,
// license), the directories the package owns.
func TestRPMFiles(t *testing.T) {
	need(t, "rpm")
	for _, a := range arches {
		t.Run(a.rpm, func(t *testing.T) {
			out := run(t, "rpm", "-qp", "--qf",
				"[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}|%{FILELINKTOS}|%{FILEFLAGS:fflags}\n]", rpmFile(t, a.rpm))
			var files []string
			flags := map[string]string{}
			for _, l := range lines(out) {
				f := strings.Split(l, "|")
				entry, link := f[0], f[1]
				mode, rest, _ := strings.Cut(entry, " ")
				_, path, _ := strings.Cut(rest, " ")
				if mode[0] == 'l' {
					entry, mode = "l "+rest+" -> "+link, "l"
				}
				if f[2] != "" {
					flags[path] = f[2]
				}
				if mode[0] == 'd' {
					if !strings.HasPrefix(entry, "drwxr-xr-x root:root ") {
						t.Errorf("directory %s, want drwxr-xr-x root:root", entry)
					}
				}
				files = append(files, entry)
			}
			want := append(slices.Clone(payload),
				"-rw-r--r-- root:root /usr/share/licenses/eic-agent/LICENSE",
				"drwxr-xr-x root:root /etc/eic-agent",
				"drwxr-xr-x root:root /usr/share/doc/eic-agent",
				"drwxr-xr-x root:root /usr/share/ec2-instance-connect",
				"drwxr-xr-x root:root /usr/share/eic-agent",
				"drwxr-xr-x root:root /usr/share/licenses/eic-agent")
			slices.Sort(want)
			slices.Sort(files)
			if diff := cmp.Diff(want, files); diff != "" {
				t.Errorf("file list (-want +got):\n%s", diff)
			}
			wantFlags := map[string]string{
				"/etc/eic-agent/config.toml":            "cn", // %config(noreplace): local edits survive
				"/usr/share/doc/eic-agent/README.md":    "d",
				"/usr/share/doc/eic-agent/changelog.gz": "d",
				"/usr/share/licenses/eic-agent/LICENSE": "l",
				// Documentation, as rpmbuild marks its man directory: --excludedocs skips them.
				"/usr/share/man/man5/eic-agent.toml.5.gz":      "d",
				"/usr/share/man/man8/eic-agent.8.gz":           "d",
				"/usr/share/man/man8/eic-authorized-keys.8.gz": "d",
			}
			if diff := cmp.Diff(wantFlags, flags); diff != "" {
				t.Errorf("file flags (-want +got):\n%s", diff)
			}
			checkModes(t, files)
		})
	}
}

// rpmlintAllowed are the warnings left in place, each with its reason; findings that do not
// apply at all are filtered in packaging/rpmlint.toml, with theirs.
var rpmlintAllowed = map[string]string{
	// Absolute on purpose: /opt and /usr are separate trees (Debian policy 10.5 asks for an
	// absolute link between top-level directories, and both packages carry the same link).
	"symlink-should-be-relative": "absolute link from /opt to /usr",
	// Provides and Obsoletes of the same name is how an rpm replaces another package: the
	// official one, at any version, is taken out on install and dependencies on it still hold.
	"self-obsoletion": "replacing ec2-instance-connect",
	// The pages are shipped (/usr/share/man/man8/eic-agent.8.gz, ...; TestRPMFiles), but Debian
	// 12's rpmlint 2.4.0 records each page's section instead of its name
	// (FilesCheck.py: man_basenames.add(res.group('category'))), so it reports every binary;
	// later rpmlint records the name (res.group('binary')) and finds them.
	"no-manual-page-for-binary": "rpmlint 2.4.0 matches man pages by section, not name",
	// Apache-2.0 is the SPDX name Fedora and RHEL use now; this rpmlint knows the older "ASL 2.0".
	"invalid-license": "SPDX license name",
	// %postun on erase removes /var/lib/eic-agent, the package's own record of what it wired
	// (nothing else: rpm has no purge, and %config files are rpm's to handle).
	"dangerous-command-in-%postun": "removes only the package's own state directory on erase",
}

// rpmlintFinding parses "eic-agent.x86_64: W: tag details".
func rpmlintFinding(l string) (sev, tag string, ok bool) {
	_, rest, ok := strings.Cut(l, ": ")
	if !ok || len(rest) < 3 || rest[1:3] != ": " {
		return "", "", false
	}
	tag, _, _ = strings.Cut(rest[3:], " ")
	return rest[:1], tag, true
}

func TestRpmlint(t *testing.T) {
	need(t, "rpmlint")
	for _, a := range arches {
		t.Run(a.rpm, func(t *testing.T) {
			// rpmlint exits non-zero on errors; the output is judged below either way.
			out, _ := rpmlintConfined(t, rpmFile(t, a.rpm))
			checkLint(t, "rpmlint", out, rpmlintFinding, rpmlintAllowed)
			if !strings.Contains(out, "1 packages and 0 specfiles checked") {
				t.Errorf("rpmlint did not check the package:\n%s", out)
			}
		})
	}
}

// confineRpmlint runs rpmlint in a chroot onto a throwaway overlay of the root filesystem.
// rpmlint unpacks the payload with cpio, and nfpm's rpms name their files with absolute
// paths, which cpio writes where they say: run plainly, rpmlint installs the package's files
// onto the machine running the test.
const confineRpmlint = `set -e
t=$(mktemp -d)
mount -t tmpfs tmpfs "$t"
mkdir "$t/upper" "$t/work" "$t/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$t/upper,workdir=$t/work" "$t/root"
mount --rbind /proc "$t/root/proc"
mount --rbind /dev "$t/root/dev"
mount -t tmpfs tmpfs "$t/root/tmp"
cp "$1" "$t/root/tmp/$(basename "$1")"
cp "$2" "$t/root/tmp/rpmlint.toml"
exec chroot "$t/root" sh -c 'cd /tmp && exec rpmlint -c rpmlint.toml "$1"' sh "$(basename "$1")"
`

// rpmlintConfined runs rpmlint on the rpm at path (see confineRpmlint). It needs root, as the
// packages check does anyway.
func rpmlintConfined(t *testing.T, path string) (string, error) {
	t.Helper()
	need(t, "unshare")
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := filepath.Abs("rpmlint.toml")
	if err != nil {
		t.Fatal(err)
	}
	// A file of the payload no other package has: present afterwards only if rpmlint wrote the
	// payload onto this machine.
	const marker = "/usr/share/eic-agent/sshd-wiring.sh"
	_, before := os.Lstat(marker)
	out, err := runCode("unshare", "--mount", "--propagation", "private", "sh", "-c", confineRpmlint, "sh", abs, cfg)
	if _, after := os.Lstat(marker); before != nil && after == nil {
		t.Errorf("rpmlint wrote the package's files onto this machine (%s appeared)", marker)
	}
	return out, err
}
