package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// trust is who may own the socket's directory and run the server: root, the given uids and the
// service account, never uid 65534.
type trust struct {
	uids []uint32
	// user is the service account, resolved on first need; userErr says why it is not trusted.
	user    string
	userErr error
}

func (t *trust) allows(uid uint32) bool {
	switch {
	case uid == 0:
		return true
	case uid == NobodyUID:
		return false
	case slices.Contains(t.uids, uid):
		return true
	case t.user == "":
		return false
	}
	u, err := ServiceUID(t.user)
	t.user = ""
	if err != nil {
		t.userErr = err
		return false
	}
	t.uids = append(t.uids, u)
	return u == uid
}

func (t *trust) names() string {
	names := []string{"root"}
	for _, u := range t.uids {
		if u != 0 && u != NobodyUID {
			names = append(names, strconv.FormatUint(uint64(u), 10))
		}
	}
	s := strings.Join(names, " or ")
	if t.userErr != nil {
		s += " (" + t.userErr.Error() + ")"
	}
	return s
}

// dial connects to the socket at path once its directory shows that only a trusted account can
// have put a socket there: the directory itself (not a symlink to one) belongs to root or a
// trusted uid and nobody else may write to it. The connection goes through the descriptor of
// the directory that was checked, so swapping it afterwards changes nothing.
func dial(ctx context.Context, path string, timeout time.Duration, t *trust) (*net.UnixConn, error) {
	dir := filepath.Dir(path)
	fd, owner, mode, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	switch {
	case mode&0o022 != 0:
		return nil, fmt.Errorf("directory %s is writable by group or others (mode %#o), so anyone could have bound the socket; refusing it (the directory must be writable by its owner only, as RuntimeDirectoryMode=0755 makes it)",
			dir, mode&0o7777)
	case !t.allows(owner):
		return nil, fmt.Errorf("directory %s is owned by uid %d, not %s, so another account could have bound the socket; refusing it",
			dir, owner, t.names())
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "unix", fmt.Sprintf("/proc/self/fd/%d/%s", fd, filepath.Base(path)))
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) { // its address is the /proc path, which means nothing to a reader
			err = fmt.Errorf("%s: %w", oe.Op, oe.Err)
		}
		return nil, err
	}
	return c.(*net.UnixConn), nil
}
