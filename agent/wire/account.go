package wire

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// NobodyUID is the overflow account (nobody, nfsnobody): many daemons and the kernel's user
// namespaces run things as it, so a service running as it cannot be told from them.
const NobodyUID = 65534

// passwdFile is where the service account is looked up: it is a local system account, and the
// helper, built without cgo, has no NSS to ask (os/user reads this same file).
const passwdFile = "/etc/passwd"

// maxPasswdLine bounds one passwd line; the file itself is read as a stream.
const maxPasswdLine = 64 << 10

// createHint is the one fix for every unusable service account.
const createHint = "create a dedicated account (useradd --system --no-create-home --shell /usr/sbin/nologin ec2-instance-connect) and set service.user to it"

// ServiceUID returns the uid of name, the account the service runs as (service.user), when it
// may be trusted as the service: it exists in /etc/passwd, is not uid 65534 (nobody), and no
// other account shares its uid. Anything running as a trusted uid can serve the socket, so a uid
// that other programs also run as would let them hand out keys.
func ServiceUID(name string) (uint32, error) {
	return serviceUID(passwdFile, name)
}

func serviceUID(passwd, name string) (uint32, error) {
	uid, others, err := scanPasswd(passwd, name)
	if err != nil {
		return 0, fmt.Errorf("service.user %q: %w", name, err)
	}
	switch {
	case uid == NobodyUID:
		return 0, fmt.Errorf("service.user %q: uid %d is the shared nobody account, which other programs run as too; %s", name, uid, createHint)
	case len(others) > 0:
		return 0, fmt.Errorf("service.user %q: uid %d is shared with %s, which could then serve keys as the service; %s",
			name, uid, strings.Join(others, ", "), createHint)
	}
	return uid, nil
}

// scanPasswd finds name's uid in the passwd file at path and the other accounts with that uid
// (at most 8: enough to name in the error), in one read: an entry sharing the uid may come
// before or after name's. The helper runs this on each login it asks the service about.
func scanPasswd(path, name string) (uid uint32, others []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	found := false
	byUID := map[uint32][]string{} // the other accounts' names per uid
	err = eachEntry(f, func(n string, u uint32) bool {
		switch {
		case n == name:
			if !found { // the first entry counts, as getpwnam's
				found, uid = true, u
			}
		case len(byUID[u]) < 8:
			byUID[u] = append(byUID[u], n)
		}
		return true
	})
	if err != nil {
		return 0, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !found {
		return 0, nil, fmt.Errorf("no such account in %s; %s", path, createHint)
	}
	return uid, byUID[uid], nil
}

// eachEntry calls fn with the name and uid of each entry of a passwd file until fn returns
// false. Lines that do not parse are skipped, as glibc's files backend skips them, and so are
// NIS compat lines (+name, -name): they name no local account.
func eachEntry(r io.Reader, fn func(name string, uid uint32) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxPasswdLine)
	for sc.Scan() {
		// name:password:uid:gid:gecos:home:shell
		fields := bytes.SplitN(sc.Bytes(), []byte(":"), 4)
		if len(fields) < 4 || len(fields[0]) == 0 || fields[0][0] == '+' || fields[0][0] == '-' {
			continue
		}
		u, err := strconv.ParseUint(string(fields[2]), 10, 32)
		if err != nil {
			continue
		}
		if !fn(string(fields[0]), uint32(u)) {
			return nil
		}
	}
	return sc.Err()
}
