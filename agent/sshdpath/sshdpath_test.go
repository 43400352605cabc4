package sshdpath_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eic-agent/eic-agent/agent/sshdpath"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// TestCheck: sshd's rule for its own command, and what someone who can write somewhere on
// the way to it would try.
func TestCheck(t *testing.T) {
	dir := testkit.SafeDir(t)
	mk := func(rel string, mode os.FileMode) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // not subject to the umask
			t.Fatal(err)
		}
		return p
	}
	link := func(rel, target string) string {
		p := filepath.Join(dir, rel)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := mk("bin/keys", 0o755)
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	inOpen := mk("open/keys", 0o755)
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	userDir := filepath.Join(dir, "user")
	inUserDir := mk("user/keys", 0o755)
	if err := os.Chown(userDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	userFile := mk("bin/user-owned", 0o755)
	if err := os.Chown(userFile, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	writable := mk("bin/writable", 0o757)
	tmpFile := filepath.Join(t.TempDir(), "evil") // under /tmp
	if err := os.WriteFile(tmpFile, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr string // "" when the path passes
	}{
		{"root-owned-script-passes", good, ""},
		{"link-to-safe-script-passes", link("good-link", good), ""},
		{"relative-path-refused", "bin/keys", "not an absolute path"},
		{"world-writable-directory-refused", inOpen, "directory " + open},
		{"directory-owned-by-user-refused", inUserDir, "owned by uid 65534"},
		{"file-owned-by-user-refused", userFile, "owned by uid 65534"},
		{"group-or-world-writable-file-refused", mk("bin/group-writable", 0o775), "mode 0775"},
		{"symlink-to-writable-file-refused", link("writable-link", writable), "the target of"},
		{"symlink-into-tmp-refused", link("tmp-link", tmpFile), "directory /tmp"},
		{"directory-refused", filepath.Join(dir, "bin"), "not a regular file"},
		{"missing-refused", filepath.Join(dir, "nope"), "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sshdpath.Check(tc.path)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Check(%s) = %v; want it to pass", tc.path, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Check(%s) = %v; want an error containing %q", tc.path, err, tc.wantErr)
			}
		})
	}
}
