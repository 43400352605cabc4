package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommandPathCheck(t *testing.T) {
	needRoot(t)
	// A root-owned path that passes sshd's rule on any Debian or RHEL host.
	real := DefaultSSHD
	if _, err := os.Stat(real); err != nil {
		t.Skipf("no %s to check a safe path with", real)
	}
	tests := []struct {
		name           string
		setup          func(t *testing.T, dir string) string // returns Options.Helper
		status         Status
		detail, remedy string
	}{
		{name: "root-owned-path-passes", status: OK,
			setup:  func(t *testing.T, dir string) string { return real },
			detail: real + " and every directory above it are root-owned"},
		{name: "symlink-resolved-to-safe-target-passes", status: OK,
			setup: func(t *testing.T, dir string) string {
				// The link itself sits under the world-writable /tmp: sshd judges the target.
				return symlink(t, real, filepath.Join(dir, "helper"))
			},
			detail: " -> " + real},
		{name: "group-writable-parent-is-the-offender", status: Fail,
			setup: func(t *testing.T, dir string) string {
				bin := mkdir(t, filepath.Join(dir, "opt", "bin"), 0o775)
				return file(t, filepath.Join(bin, "helper"), 0o755)
			},
			detail: "its directory DIR/opt/bin is group-writable (mode 0775)", remedy: "chmod go-w DIR/opt/bin"},
		{name: "symlink-into-unsafe-directory-fails", status: Fail,
			setup: func(t *testing.T, dir string) string {
				bin := mkdir(t, filepath.Join(dir, "drop"), 0o777)
				target := file(t, filepath.Join(bin, "helper"), 0o755)
				safe := mkdir(t, filepath.Join(dir, "safe"), 0o755)
				return symlink(t, target, filepath.Join(safe, "helper"))
			},
			detail: "DIR/drop is group- and world-writable (mode 0777)"},
		{name: "group-writable-file-fails", status: Fail,
			setup: func(t *testing.T, dir string) string {
				return file(t, filepath.Join(mkdir(t, filepath.Join(dir, "b"), 0o755), "helper"), 0o775)
			},
			detail: "DIR/b/helper is group-writable", remedy: "chmod go-w DIR/b/helper"},
		{name: "file-owned-by-another-user-fails", status: Fail,
			setup: func(t *testing.T, dir string) string {
				p := file(t, filepath.Join(mkdir(t, filepath.Join(dir, "b"), 0o755), "helper"), 0o755)
				if err := os.Chown(p, 64123, 64123); err != nil {
					t.Fatal(err)
				}
				return p
			},
			detail: "DIR/b/helper is owned by uid 64123, not root", remedy: "chown root:root"},
		{name: "missing-helper-fails", status: Fail,
			setup:  func(t *testing.T, dir string) string { return filepath.Join(dir, "nothing") },
			detail: "no such file or directory", remedy: "install"},
		{name: "not-executable-fails", status: Fail,
			setup: func(t *testing.T, dir string) string {
				return file(t, filepath.Join(mkdir(t, filepath.Join(dir, "b"), 0o755), "helper"), 0o644)
			},
			detail: "is not an executable file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			helper := tc.setup(t, dir)
			// No sshd configuration to read: the check falls back to Options.Helper.
			d := New(Options{Helper: helper, SSHD: filepath.Join(dir, "no-sshd")})
			c := d.CommandPath(testContext(t))
			wantCheck(t, c, tc.status, replaceDir(tc.detail, dir), replaceDir(tc.remedy, dir))
		})
	}
}

func replaceDir(s, dir string) string {
	if s == "" {
		return s
	}
	return strings.ReplaceAll(s, "DIR", dir)
}

func mkdir(t *testing.T, p string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

func file(t *testing.T, p string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func symlink(t *testing.T, target, p string) string {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	return p
}
