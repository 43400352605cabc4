package wire

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// peerUID returns the uid of the process at the other end of conn, as the kernel recorded it
// when the connection was made (SO_PEERCRED): the peer cannot forge it.
func peerUID(conn *net.UnixConn) (uint32, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	var (
		cred    *unix.Ucred
		credErr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return 0, fmt.Errorf("peer credentials: %w", credErr)
	}
	return cred.Uid, nil
}

// openDir opens dir without following a symlink as its last component (a symlink is refused:
// what it points to can change), for dial to connect through. It returns the descriptor with
// the directory's owner and mode.
func openDir(dir string) (fd int, owner, mode uint32, err error) {
	fd, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			if st, lerr := os.Lstat(dir); lerr == nil && st.Mode()&fs.ModeSymlink != 0 {
				return -1, 0, 0, fmt.Errorf("directory %s is a symbolic link; refusing it (point service.socket at the real directory)", dir)
			}
		}
		return -1, 0, 0, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return -1, 0, 0, &fs.PathError{Op: "stat", Path: dir, Err: err}
	}
	return fd, st.Uid, st.Mode, nil
}
