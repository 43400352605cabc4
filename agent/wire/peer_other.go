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
