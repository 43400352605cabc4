package doctor

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// CommandPath checks the helper's path the way sshd does before running it: symlinks resolved,
// the file and every directory above it up to / owned by root and writable by no group or
// other. sshd refuses the command otherwise, and logs it only at its own log level.
func (d *Doctor) CommandPath(ctx context.Context) Check {
	c := Check{Name: "command-path"}
	path := d.o.Helper
	if v, err := d.sshd.get(ctx, d.readSSHD); err == nil {
		if p, _, _ := strings.Cut(v.match["authorizedkeyscommand"], " "); d.ours(p) {
			path = p
		}
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fail(c, fmt.Sprintf("%s: %v", path, err), "install eic-agent's package, or point AuthorizedKeysCommand at the helper's real path")
	}
	shown := path
	if real != path {
		shown = path + " -> " + real
	}
	st, err := os.Stat(real)
	if err != nil {
		return fail(c, fmt.Sprintf("%s: %v", shown, err), "reinstall eic-agent's package")
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return fail(c, fmt.Sprintf("%s is not an executable file (mode %s)", shown, st.Mode()),
			"reinstall eic-agent's package (the helper is installed mode 0755)")
	}
	if bad := unsafe(real, st); bad != "" {
		return fail(c, fmt.Sprintf("sshd will refuse %s: %s", shown, bad), fmt.Sprintf("chown root:root %s; chmod go-w %s", real, real))
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err != nil {
			return fail(c, fmt.Sprintf("%s: %v", dir, err), "check the directories above the helper")
		}
		if bad := unsafe(dir, st); bad != "" {
			return fail(c, fmt.Sprintf("sshd will refuse %s: its directory %s", shown, bad), fmt.Sprintf("chown root %s; chmod go-w %s", dir, dir))
		}
		if dir == "/" || dir == "." {
			break
		}
	}
	return ok(c, fmt.Sprintf("%s and every directory above it are root-owned and not group or world writable", shown))
}

// unsafe says why sshd's rule refuses path, or "" when it passes: owned by root, and not
// writable by group or others (a sticky bit does not help: sshd refuses /tmp too).
func unsafe(path string, st fs.FileInfo) string {
	sys, okSys := st.Sys().(*syscall.Stat_t)
	switch {
	case !okSys:
		return path + " has no owner information"
	case sys.Uid != 0:
		return fmt.Sprintf("%s is owned by uid %d, not root", path, sys.Uid)
	case st.Mode().Perm()&0o022 == 0o022:
		return fmt.Sprintf("%s is group- and world-writable (mode %04o)", path, st.Mode().Perm())
	case st.Mode().Perm()&0o020 != 0:
		return fmt.Sprintf("%s is group-writable (mode %04o)", path, st.Mode().Perm())
	case st.Mode().Perm()&0o002 != 0:
		return fmt.Sprintf("%s is world-writable (mode %04o)", path, st.Mode().Perm())
	}
	return ""
}
