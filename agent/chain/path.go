package chain

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckPath applies sshd's rule for an AuthorizedKeysCommand (its safe_path) to path: the
// path, with every symlink resolved, must be a regular file owned by root and not writable by
// group or others, and so must every directory above it up to "/". Whoever could change any of
// them could make the helper print a key for root. Like sshd, the rule is applied each time
// the command is about to run, so a later change is caught.
func CheckPath(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%q: not an absolute path", path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", describe(path, real))
	}
	if err := rootOnly(st); err != nil {
		return fmt.Errorf("file %s: %w", describe(path, real), err)
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("directory %s: %w", dir, err)
		}
		if err := rootOnly(st); err != nil {
			return fmt.Errorf("directory %s (above %s): %w", dir, describe(path, real), err)
		}
		if dir == "/" {
			return nil
		}
	}
}

// rootOnly is sshd's test: owned by root, no write bit for group or others (a sticky bit
// does not help: sshd refuses /tmp too).
func rootOnly(st fs.FileInfo) error {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 {
		return fmt.Errorf("owned by uid %d, not root; sshd refuses such a command too: chown root:root it", sys.Uid)
	}
	if p := st.Mode().Perm(); p&0o022 != 0 {
		return fmt.Errorf("writable by group or others (mode %04o); sshd refuses such a command too: chmod go-w it", p)
	}
	return nil
}

func describe(path, real string) string {
	if path == real {
		return path
	}
	return fmt.Sprintf("%s (the target of %s)", real, path)
}
