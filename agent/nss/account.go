package nss

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Account is an account's passwd entry as NSS answers it.
type Account struct {
	Name  string
	UID   int
	Home  string
	Shell string
}

// LookupAccount returns user's passwd entry, found false when NSS has none (getent exit 2). It
// runs getent exactly as UserExists does; Config.Getent None is an error here, since there is
// then nothing to read the entry from.
func LookupAccount(ctx context.Context, cfg Config, user string) (Account, bool, error) {
	if err := CheckName(user); err != nil {
		return Account{}, false, err
	}
	if cfg.Getent == None {
		return Account{}, false, errors.New("users.getent is \"none\": no account database to read")
	}
	line, found, err := query(ctx, cfg, "passwd", user)
	if err != nil || !found {
		return Account{}, found, err
	}
	f := strings.Split(string(line), ":")
	if len(f) != 7 {
		return Account{}, false, fmt.Errorf("passwd entry of %q has %d fields, want 7", user, len(f))
	}
	uid, err := strconv.Atoi(f[2])
	if err != nil || uid < 0 {
		return Account{}, false, fmt.Errorf("passwd entry of %q: uid %q is not a number", user, truncate(f[2]))
	}
	return Account{Name: f[0], UID: uid, Home: f[5], Shell: f[6]}, true, nil
}

// Password says what the shadow password field of an account allows.
type Password int

// The password states.
const (
	// PasswordUnknown: the shadow entry could not be read (not root, or no shadow database).
	PasswordUnknown Password = iota
	// PasswordLocked: the field starts with "!" (passwd -l, usermod -L, useradd -r on RHEL).
	PasswordLocked
	// PasswordNone: the field is "*" or another value no password can match.
	PasswordNone
	// PasswordEmpty: the field is empty, so an empty password logs in where PAM allows it.
	PasswordEmpty
	// PasswordSet: the field holds a password hash.
	PasswordSet
)

func (p Password) String() string {
	switch p {
	case PasswordLocked:
		return "locked"
	case PasswordNone:
		return "no password"
	case PasswordEmpty:
		return "empty password"
	case PasswordSet:
		return "password set"
	}
	return "password state unknown"
}

// PasswordOf reads user's shadow entry (root only, on most systems) and says what its password
// field allows. An entry NSS does not have, or cannot show, is PasswordUnknown, not an error.
func PasswordOf(ctx context.Context, cfg Config, user string) (Password, error) {
	if err := CheckName(user); err != nil {
		return PasswordUnknown, err
	}
	if cfg.Getent == None {
		return PasswordUnknown, nil
	}
	line, found, err := query(ctx, cfg, "shadow", user)
	if err != nil || !found {
		return PasswordUnknown, err
	}
	f := strings.Split(string(line), ":")
	if len(f) < 2 {
		return PasswordUnknown, fmt.Errorf("shadow entry of %q has no password field", user)
	}
	pw := f[1]
	switch {
	case pw == "":
		return PasswordEmpty, nil
	case strings.HasPrefix(pw, "!"):
		return PasswordLocked, nil
	case strings.HasPrefix(pw, "$"):
		return PasswordSet, nil
	case len(pw) == 13 && !strings.ContainsAny(pw, "*!"):
		return PasswordSet, nil // a traditional DES crypt hash
	}
	return PasswordNone, nil
}
