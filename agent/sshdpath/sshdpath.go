// Package sshdpath applies sshd's rule for the program an AuthorizedKeysCommand names
// (OpenSSH's safe_path): with every symlink resolved, a regular file owned by root and not
// writable by group or others, and so every directory above it up to "/". sshd refuses the
// command otherwise. The helper applies it to a chained command each time before running it,
// and eic-agent doctor to the helper's own path.
package sshdpath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Unsafe is a path the rule refuses: the command file or a directory above it.
type Unsafe struct {
	Path string // the file or directory at fault
	Dir  bool   // Path is a directory above the command
	Of   string // the command as named, with its resolved target when they differ
	Why  string // e.g. "is group-writable (mode 0775)"

	owner bool // the owner is at fault, not the mode
}

func (u *Unsafe) Error() string {
	if u.Dir {
		return fmt.Sprintf("directory %s (above %s) %s; sshd refuses such a command too: %s", u.Path, u.Of, u.Why, u.Fix())
	}
	return fmt.Sprintf("file %s %s; sshd refuses such a command too: %s", u.Of, u.Why, u.Fix())
}

// Fix is the command that makes Path pass.
func (u *Unsafe) Fix() string {
	if u.owner {
		if u.Dir {
			return "chown root " + u.Path
		}
		return "chown root:root " + u.Path
	}
	return "chmod go-w " + u.Path
}

// Check applies the rule to path and returns path with its symlinks resolved. A refusal for
// ownership or modes is an *Unsafe.
func Check(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("%q: not an absolute path", path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	of := path
	if real != path {
		of = fmt.Sprintf("%s (the target of %s)", real, path)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("%s: %w", of, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", of)
	}
	if u := judge(real, st); u != nil {
		u.Of = of
		return "", u
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err != nil {
			return "", fmt.Errorf("directory %s (above %s): %w", dir, of, err)
		}
		if u := judge(dir, st); u != nil {
			u.Dir, u.Of = true, of
			return "", u
		}
		if dir == "/" {
			return real, nil
		}
	}
}

// judge is sshd's test for one path: owned by root, no write bit for group or others (a sticky
// bit does not help: sshd refuses /tmp too). Without owner information it refuses.
func judge(path string, st fs.FileInfo) *Unsafe {
	u := &Unsafe{Path: path}
	sys, ok := st.Sys().(*syscall.Stat_t)
	perm := st.Mode().Perm()
	switch {
	case !ok:
		u.Why, u.owner = "has no owner information", true
	case sys.Uid != 0:
		u.Why, u.owner = fmt.Sprintf("is owned by uid %d, not root", sys.Uid), true
	case perm&0o022 == 0o022:
		u.Why = fmt.Sprintf("is group- and world-writable (mode %04o)", perm)
	case perm&0o020 != 0:
		u.Why = fmt.Sprintf("is group-writable (mode %04o)", perm)
	case perm&0o002 != 0:
		u.Why = fmt.Sprintf("is world-writable (mode %04o)", perm)
	default:
		return nil
	}
	return u
}

// IsUnsafe reports whether err is a refusal for ownership or modes, and returns it.
func IsUnsafe(err error) (*Unsafe, bool) {
	var u *Unsafe
	ok := errors.As(err, &u)
	return u, ok
}
