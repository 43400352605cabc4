package service

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
)

// SocketMode is the mode of a socket the service creates itself: the service user and its group
// (root can connect regardless). The server checks SO_PEERCRED too: the mode is the first fence.
const SocketMode = 0o660

// Listen returns the socket to serve: the one systemd passed (socket activation), else a new
// one at path. It never removes anything at path but a stale socket nobody answers on.
// activated says which it was; a created socket is removed when the listener closes.
func Listen(path string) (ln *net.UnixListener, activated bool, err error) {
	files := activation.Files(true)
	switch len(files) {
	case 0:
		ln, err := create(path)
		return ln, false, err
	case 1:
		l, err := net.FileListener(files[0])
		_ = files[0].Close() // FileListener made its own copy
		if err != nil {
			return nil, false, fmt.Errorf("socket activation: cannot use the socket systemd passed: %w (check ListenStream= in eic-agent.socket)", err)
		}
		ul, ok := l.(*net.UnixListener)
		if !ok {
			_ = l.Close()
			return nil, false, fmt.Errorf("socket activation: systemd passed a %s socket, not a unix stream socket (check ListenStream= in eic-agent.socket)", l.Addr().Network())
		}
		// systemd owns the socket file; closing must not remove it.
		ul.SetUnlinkOnClose(false)
		return ul, true, nil
	default:
		for _, f := range files {
			_ = f.Close()
		}
		return nil, false, fmt.Errorf("socket activation: systemd passed %d sockets; eic-agent serves exactly one", len(files))
	}
}

func create(path string) (*net.UnixListener, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("create socket %s: not an absolute path", path)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create socket %s: %w (is RuntimeDirectory=eic-agent set in the unit?)", path, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("create socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, SocketMode); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("create socket %s: %w", path, err)
	}
	return ln, nil
}

// removeStale removes a socket left by a service that died, and refuses to touch anything
// else: a regular file there is not ours, and a socket someone answers on is a running service.
func removeStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create socket %s: %w", path, err)
	}
	if st.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("create socket %s: a %s is in the way; it is not a socket, so eic-agent leaves it alone", path, describeMode(st.Mode()))
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		_ = c.Close()
		return fmt.Errorf("create socket %s: another eic-agent is serving on it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("create socket %s: remove stale socket: %w", path, err)
	}
	return nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	case m.Type() == fs.ModeSymlink:
		return "symlink"
	}
	return "file of type " + m.Type().String()
}
