package doctor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/eic-agent/eic-agent/agent/config"
)

// getent writes a getent stand-in that knows one account: its passwd and shadow lines.
func getent(t *testing.T, passwd, shadow string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "getent")
	script := "#!/bin/sh\ncase \"$1 $3\" in\n" +
		"\"passwd ec2-instance-connect\") [ -n '" + passwd + "' ] || exit 2; echo '" + passwd + "' ;;\n" +
		"\"shadow ec2-instance-connect\") [ -n '" + shadow + "' ] || exit 2; echo '" + shadow + "' ;;\n" +
		"*) exit 2 ;;\nesac\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommandUserCheck(t *testing.T) {
	const locked = "ec2-instance-connect:!:19000::::::"
	tests := []struct {
		name, passwd, shadow string
		status               Status
		detail, remedy       string
	}{
		{"locked-system-account-passes", "ec2-instance-connect:x:998:998::/nonexistent:/usr/sbin/nologin", locked, OK,
			"ec2-instance-connect (uid 998), shell /usr/sbin/nologin, locked", ""},
		{"star-password-and-false-shell-pass", "ec2-instance-connect:x:998:998::/:/bin/false", "ec2-instance-connect:*:19000::::::", OK,
			"shell /bin/false, no password", ""},
		{"shadow-unreadable-still-passes-on-shell", "ec2-instance-connect:x:998:998::/:/sbin/nologin", "", OK,
			"password state unknown", ""},
		{"missing-account-fails", "", "", Fail,
			"account ec2-instance-connect does not exist, so sshd skips the AuthorizedKeysCommand", "useradd --system"},
		{"login-shell-warns", "ec2-instance-connect:x:998:998::/home/e:/bin/bash", locked, Warn,
			"an account with a login shell", "usermod --shell /usr/sbin/nologin ec2-instance-connect"},
		{"empty-shell-is-a-login-shell", "ec2-instance-connect:x:998:998::/home/e:", locked, Warn,
			"an account with a login shell", "nologin"},
		{"password-set-warns", "ec2-instance-connect:x:998:998::/:/usr/sbin/nologin", "ec2-instance-connect:$6$s$h:19000::::::", Warn,
			"its password is not locked", "usermod --lock"},
		{"root-as-command-user-warns", "ec2-instance-connect:x:0:0::/root:/usr/sbin/nologin", locked, Warn,
			"the helper runs as root", "useradd --system"},
		{"name-mismatch-refused", "ec2-instance-connecT:x:998:998::/:/usr/sbin/nologin", locked, Fail,
			"refusing a name that differs", "getent passwd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Users.Getent = getent(t, tc.passwd, tc.shadow)
			// No sshd to ask: the account is service.user.
			d := New(Options{Config: cfg, SSHD: filepath.Join(t.TempDir(), "no-sshd")})
			wantCheck(t, d.CommandUser(testContext(t)), tc.status, tc.detail, tc.remedy)
		})
	}
}
