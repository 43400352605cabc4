//go:build !linux

package wire

import (
	"errors"
	"net"
)

// peerUID fails closed where SO_PEERCRED does not exist: without the peer's uid neither end may
// trust the other.
func peerUID(*net.UnixConn) (uint32, error) {
	return 0, errors.New("peer credentials: SO_PEERCRED is only available on Linux")
}

// openDir fails closed where the socket's directory cannot be opened without following it.
func openDir(string) (int, uint32, uint32, error) {
	return -1, 0, 0, errors.New("socket directory check: O_PATH is only available on Linux")
}
