// Package nss answers "does this user exist?" the way the system's name
// service switch would, from a static (CGO_ENABLED=0) binary.
//
// A static Go binary cannot call getpwnam through NSS modules (sssd, LDAP,
// systemd-userdb, ...), and os/user's pure-Go fallback reads only
// /etc/passwd, so the answer would be wrong on directory-backed hosts. We run
// getent instead, which uses the system's libc and NSS configuration.
//
// Contract: the user name is checked before anything runs (no empty names,
// ':', '/', whitespace, control characters or a leading '-'); getent runs with
// an absolute path, an empty environment, no stdin, stderr discarded, stdout
// capped at 64 KiB, under the caller's context (which should carry a
// deadline), in a process group of its own that is killed as a whole at the
// deadline, so neither getent nor anything it started outlives the call.
// Killing and collecting it is counted inside the deadline. Exit 2 means "no
// such user". An exit-0 answer for a different name than asked is an error,
// not "no": see UserExists.
package nss

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/eic-agent/eic-agent/agent/procgroup"
)

// None as Config.Getent disables the check: every valid name "exists".
const None = "none"

// MaxOutput caps getent's stdout; one passwd entry is a few hundred bytes.
const MaxOutput = 64 << 10

// defaultGetent lists where getent lives on deb and rpm systems, in order.
func defaultGetent() []string { return []string{"/usr/bin/getent", "/bin/getent"} }

// Config says which getent to run.
type Config struct {
	// Getent is an absolute path; "" means the first existing of
	// /usr/bin/getent and /bin/getent; None skips the check.
	Getent string
}

// UserExists reports whether NSS knows user. It returns (true, nil) when
// getent exits 0 and its first line is the entry for exactly user, and
// (false, nil) when getent exits 2 (not found). Everything else is an error
// naming the getent used, including an exit-0 answer for another name: some
// NSS backends match names case-insensitively or by alias, and sshd and
// IMDS key bundles use the exact name, so we refuse to guess which
// account was meant.
func UserExists(ctx context.Context, cfg Config, user string) (bool, error) {
	if err := CheckName(user); err != nil {
		return false, err
	}
	if cfg.Getent == None {
		return true, nil
	}
	_, found, err := query(ctx, cfg, "passwd", user)
	return found, err
}

// query runs getent DATABASE -- NAME and returns the first line of its answer when it is the
// entry for exactly name (found), nothing when getent exits 2 (not found), and an error
// otherwise. The name must have passed CheckName.
func query(ctx context.Context, cfg Config, database, name string) (line []byte, found bool, err error) {
	getent, err := resolve(cfg.Getent)
	if err != nil {
		return nil, false, err
	}

	runCtx, grace, cancel := procgroup.WithGrace(ctx)
	defer cancel()
	out := &procgroup.Output{Max: MaxOutput, Strict: true}
	cmd := exec.Command(getent, database, "--", name)
	cmd.Env = []string{} // non-nil and empty: inherit nothing
	cmd.Stdin = nil
	cmd.Stdout = out
	cmd.Stderr = nil
	cmd.WaitDelay = grace
	err = procgroup.Run(runCtx, cmd)

	var exitErr *exec.ExitError
	switch {
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		return nil, false, fmt.Errorf("getent %s %s %q: no answer before the deadline; killed it and everything it started: %w", getent, database, name, runCtx.Err())
	case runCtx.Err() != nil:
		return nil, false, fmt.Errorf("getent %s %s %q: %w", getent, database, name, runCtx.Err())
	case out.Discarded > 0:
		return nil, false, fmt.Errorf("getent %s %s %q: output larger than %d bytes", getent, database, name, MaxOutput)
	case errors.As(err, &exitErr) && exitErr.ExitCode() == 2:
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("getent %s %s %q: %w", getent, database, name, err)
	}

	line, _, _ = bytes.Cut(out.Bytes(), []byte("\n"))
	got, _, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return nil, false, fmt.Errorf("getent %s %s %q: exit 0 but no %s entry in its output", getent, database, name, database)
	}
	if string(got) != name {
		return nil, false, fmt.Errorf("getent %s %s %q: answered for %s %q; refusing a name that differs from the one asked", getent, database, name, what(database), truncate(string(got)))
	}
	return line, true, nil
}

// CheckName refuses names that could be read as an option or that no passwd
// entry can hold, before anything is run with them.
func CheckName(user string) error {
	switch {
	case user == "":
		return errors.New("user name is empty")
	case strings.HasPrefix(user, "-"):
		return fmt.Errorf("user name %q starts with '-'", user)
	case strings.ContainsAny(user, ":/"):
		return fmt.Errorf("user name %q contains ':' or '/'", user)
	case strings.IndexFunc(user, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("user name %q contains whitespace or a control character", user)
	}
	return nil
}

func resolve(getent string) (string, error) {
	if getent != "" {
		if !filepath.IsAbs(getent) {
			return "", fmt.Errorf("getent %q: must be an absolute path", getent)
		}
		return getent, nil
	}
	for _, p := range defaultGetent() {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("getent: none of %s exists; install it (glibc's getent, usually in libc-bin or glibc-common) or set users.getent", strings.Join(defaultGetent(), ", "))
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// what names the kind of entry a database holds, for errors.
func what(database string) string {
	if database == "passwd" {
		return "user"
	}
	return database + " entry"
}
