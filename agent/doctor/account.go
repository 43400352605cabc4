package doctor

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/eic-agent/eic-agent/agent/nss"
)

// CommandUser checks the account sshd runs the helper as (AuthorizedKeysCommandUser, else
// service.user): it must exist, since sshd silently skips the command when it does not, and it
// should not be an account anyone can log in as.
func (d *Doctor) CommandUser(ctx context.Context) Check {
	c := Check{Name: "command-user"}
	name := d.o.Config.Service.User
	if v, err := d.sshd.get(ctx, d.readSSHD); err == nil {
		if u := v.match["authorizedkeyscommanduser"]; u != "" && u != "none" {
			name = u
		}
	}
	cfg := nss.Config{Getent: d.o.Config.Users.Getent}
	if cfg.Getent == nss.None {
		cfg.Getent = "" // users.getent = "none" only turns off the login's check
	}
	acct, found, err := nss.LookupAccount(ctx, cfg, name)
	if err != nil {
		return fail(c, fmt.Sprintf("look up %s: %v", name, err), "check users.getent and the NSS configuration (getent passwd "+name+")")
	}
	if !found {
		return fail(c, fmt.Sprintf("account %s does not exist, so sshd skips the AuthorizedKeysCommand without a word", name),
			"useradd --system --no-create-home --shell /usr/sbin/nologin "+name+" (or reinstall eic-agent's package)")
	}
	pw, err := nss.PasswordOf(ctx, cfg, name)
	if err != nil {
		return fail(c, fmt.Sprintf("read the shadow entry of %s: %v", name, err), "check the NSS configuration (getent shadow "+name+")")
	}
	detail := fmt.Sprintf("%s (uid %d), shell %s, %s", name, acct.UID, acct.Shell, pw)
	switch {
	case acct.UID == 0:
		return warn(c, detail+": the helper runs as root", "create a locked system account for it (useradd --system --shell /usr/sbin/nologin ec2-instance-connect) and name it in AuthorizedKeysCommandUser")
	case loginShell(acct.Shell):
		return warn(c, detail+": an account with a login shell", "usermod --shell /usr/sbin/nologin "+name)
	case pw == nss.PasswordEmpty || pw == nss.PasswordSet:
		return warn(c, detail+": its password is not locked", "usermod --lock "+name)
	}
	return ok(c, detail)
}

// loginShell reports whether shell lets someone log in: anything but nologin and false (an
// empty field means /bin/sh).
func loginShell(shell string) bool {
	switch path.Base(strings.TrimSpace(shell)) {
	case "nologin", "false":
		return false
	}
	return true
}
