//go:build packages

package packaging

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// extract unpacks a .deb's payload into a temporary directory.
func extract(t *testing.T, arch string) string {
	t.Helper()
	dir := t.TempDir()
	run(t, "dpkg-deb", "-x", debFile(t, arch), dir)
	return dir
}

// TestBinariesStaticForTheirArch: both binaries in each package are ELF for that package's
// architecture with no interpreter and no shared library (sshd runs the helper with an empty
// environment on every login; a dynamic binary would also tie the package to one libc).
func TestBinariesStaticForTheirArch(t *testing.T) {
	need(t, "dpkg-deb")
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, a := range arches {
		t.Run(a.deb, func(t *testing.T) {
			root := extract(t, a.deb)
			for _, bin := range []string{"eic-authorized-keys", "eic-agent"} {
				f, err := elf.Open(filepath.Join(root, "usr/sbin", bin))
				if err != nil {
					t.Fatalf("%s: %v", bin, err)
				}
				defer f.Close()
				if f.Machine != machine[a.goarch] {
					t.Errorf("%s: machine %v, want %v", bin, f.Machine, machine[a.goarch])
				}
				for _, p := range f.Progs {
					if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
						t.Errorf("%s: has %v: not a static binary", bin, p.Type)
					}
				}
			}
			if a.goarch != "amd64" {
				return // the arm64 one runs in TestArm64VerifyMatchesAmd64
			}
			// The binaries carry the package's version (doctor and bug reports quote it), on
			// stdout like every program's --version (sshd never asks the helper for it).
			for bin, arg := range map[string]string{"eic-authorized-keys": "--version", "eic-agent": "version"} {
				out := runBinary(t, filepath.Join(root, "usr/sbin", bin), arg)
				if want := bin + " " + version(t) + "\n"; out.stdout != want || out.stderr != "" || out.code != 0 {
					t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want %q on stdout", bin, arg, out.code, out.stdout, out.stderr, want)
				}
			}
		})
	}
}

// TestShellcheck: every shell script in packaging/ (maintainer scripts, rpm scriptlets,
// version.sh) is POSIX sh that shellcheck passes.
func TestShellcheck(t *testing.T) {
	need(t, "shellcheck")
	var scripts []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		first, _ := bufio.NewReader(f).ReadString('\n')
		if strings.HasPrefix(first, "#!") && strings.Contains(first, "sh") || strings.HasSuffix(path, ".sh") {
			scripts = append(scripts, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The three deb maintainer scripts, the three rpm scriptlets, sshd-wiring.sh,
	// systemd-units.sh and version.sh at least.
	if len(scripts) < 9 {
		t.Fatalf("found %d shell scripts in packaging/, want at least 9: %v", len(scripts), scripts)
	}
	for _, s := range scripts {
		t.Run(s, func(t *testing.T) {
			if out, err := runCode("shellcheck", "--shell=sh", "--severity=style", s); err != nil {
				t.Errorf("shellcheck %s: %v\n%s", s, err, out)
			}
		})
	}
}

// TestArm64VerifyMatchesAmd64: the arm64 helper from the arm64 .deb, under qemu-user-static,
// gives the amd64 helper's answers (exit code, keys printed, --explain lines) on every test
// vector, and amd64 gives the answers bundles.tsv expects.
func TestArm64VerifyMatchesAmd64(t *testing.T) {
	need(t, "dpkg-deb", "qemu-aarch64-static")
	amd64 := filepath.Join(extract(t, "amd64"), "usr/sbin/eic-authorized-keys")
	arm64 := filepath.Join(extract(t, "arm64"), "usr/sbin/eic-authorized-keys")
	vectors, err := filepath.Abs("../cmd/eic-authorized-keys/testdata/vectors")
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string) string {
		b, err := os.ReadFile(filepath.Join(vectors, name))
		if err != nil {
			t.Fatalf("vector %s: %v", name, err)
		}
		return strings.TrimSpace(string(b))
	}
	now, instance, signer := value("now"), value("instance-id"), value("expected-signer")
	manifest, err := os.ReadFile("../cmd/eic-authorized-keys/testdata/bundles.tsv")
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for _, line := range lines(string(manifest)) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		// name bundle ocsp fingerprint exit keys signer blocks, as vectors_test.go reads them.
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			t.Fatalf("bundles.tsv line %q: want 8 tab-separated fields", line)
		}
		cases++
		t.Run(f[0], func(t *testing.T) {
			args := []string{"verify", "--keys", filepath.Join(vectors, "bundles", f[1]),
				"--signer-chain", filepath.Join(vectors, "chain.pem"), "--ocsp-dir", filepath.Join(vectors, f[2]),
				"--ca", filepath.Join(vectors, "root.pem"), "--instance-id", instance, "--expected-signer", signer,
				"--now", now, "--explain"}
			if f[3] != "-" {
				args = append(args, "--fingerprint", fingerprint(t, vectors, f[3]))
			}
			want := runBinary(t, amd64, args...)
			if fmt.Sprint(want.code) != f[4] {
				t.Fatalf("amd64: exit %d, want %s\nstderr:\n%s", want.code, f[4], want.stderr)
			}
			if (f[5] != "-") != (want.stdout != "") {
				t.Fatalf("amd64 printed %q, want keys %s", want.stdout, f[5])
			}
			got := runBinary(t, "qemu-aarch64-static", append([]string{arm64}, args...)...)
			if got != want {
				t.Errorf("arm64 under qemu:\n%+v\namd64:\n%+v", got, want)
			}
		})
	}
	if cases == 0 {
		t.Fatal("bundles.tsv: no cases")
	}
}

// fingerprint is the --fingerprint value for a manifest field: NAME (SHA256 of vectors/NAME.pub)
// or md5:NAME.
func fingerprint(t *testing.T, vectors, field string) string {
	t.Helper()
	name, md5 := strings.CutPrefix(field, "md5:")
	b, err := os.ReadFile(filepath.Join(vectors, name+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatalf("%s.pub: %v", name, err)
	}
	if md5 {
		return "MD5:" + ssh.FingerprintLegacyMD5(k)
	}
	return ssh.FingerprintSHA256(k)
}

type result struct {
	code           int
	stdout, stderr string
}

// runBinary runs a helper with an empty environment, as sshd does.
func runBinary(t *testing.T, name string, args ...string) result {
	t.Helper()
	var stdout, stderr strings.Builder
	cmd := exec.Command(name, args...)
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", name, err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

// TestCompatibilityPathsReachTheHelper: the paths existing sshd configurations name lead, in
// the unpacked package, to the packaged helper itself (sshd resolves the link and checks the
// target's owner and mode, which TestDebFiles holds to root:root 0755).
func TestCompatibilityPathsReachTheHelper(t *testing.T) {
	need(t, "dpkg-deb")
	root := extract(t, "amd64")
	helper := filepath.Join(root, "usr/sbin/eic-authorized-keys")
	for _, link := range []string{"opt/aws/bin/eic_run_authorized_keys", "usr/share/ec2-instance-connect/eic_run_authorized_keys"} {
		t.Run(link, func(t *testing.T) {
			p := filepath.Join(root, link)
			target, err := os.Readlink(p)
			if err != nil {
				t.Fatalf("%s: not a symlink: %v", link, err)
			}
			// Resolve inside the unpacked root, never on this machine's /.
			if filepath.IsAbs(target) {
				target = filepath.Join(root, target)
			} else {
				target = filepath.Join(filepath.Dir(p), target)
			}
			if target != helper {
				t.Errorf("%s -> %s, want the packaged helper %s", link, target, helper)
			}
			if fi, err := os.Lstat(target); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("%s: target %s is not a regular file: %v", link, target, err)
			}
		})
	}
}
