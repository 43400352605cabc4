//go:build e2e

package testenv_test

// Upgrades, RPM's scriptlet arguments, the command user's creation and shellcheck: the rest
// of the maintainer scripts' contract, on the same real sshd and private /etc, /usr, /var.

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/eic-agent/eic-agent/agent/testenv"
)

// prepareScripts installs sshd-wiring.sh where the packages put it and gives the test a
// Debian-like /etc/ssh whose main file includes sshd_config.d; everything is put back after.
func prepareScripts(t *testing.T) map[string]string {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	installScripts(t)
	base := snapshot(t)
	t.Cleanup(func() { restore(t, base) })
	if err := os.RemoveAll("/etc/ssh/sshd_config.d"); err != nil {
		t.Fatal(err)
	}
	write(t, map[string]string{sshdConfig: mainWithInclude, "/etc/ssh/sshd_config.d/50-cloud-init.conf": "PasswordAuthentication no\n"})
	return snapshot(t)
}

// TestUpgradeKeepsWhatTheAdminChanged: an upgrade (postinst configure OLD-VERSION) neither
// rewrites an edited drop-in nor brings back one the admin deleted.
func TestUpgradeKeepsWhatTheAdminChanged(t *testing.T) {
	before := prepareScripts(t)
	script(t, nil, "deb/postinst", "configure", "")
	edited := "# tuned by the admin\nAuthorizedKeysCommand /usr/sbin/eic-authorized-keys %u %f\nAuthorizedKeysCommandUser ec2-instance-connect\n"
	write(t, map[string]string{ourDropIn: edited})
	edits := snapshot(t)

	logged := script(t, nil, "deb/postinst", "configure", "0.1.0")
	if d := diffSnap(edits, snapshot(t)); d != "" {
		t.Errorf("upgrade changed files:\n%s", d)
	}
	if !strings.Contains(logged, "upgrade: keeping the sshd wiring") {
		t.Errorf("upgrade log does not say it kept the wiring:\n%s", logged)
	}

	if err := os.Remove(ourDropIn); err != nil {
		t.Fatal(err)
	}
	deleted := snapshot(t)
	script(t, nil, "deb/postinst", "configure", "0.2.0")
	if d := diffSnap(deleted, snapshot(t)); d != "" {
		t.Errorf("upgrade brought back the drop-in the admin deleted:\n%s", d)
	}

	script(t, nil, "deb/prerm", "remove")
	script(t, nil, "deb/postrm", "remove")
	if d := diffSnap(before, snapshot(t)); d != "" {
		t.Errorf("after remove, files differ from before install:\n%s", d)
	}
}

// TestRPMScriptletsHonourTheirArgument walks RPM's order: install (%post 1), upgrade (new
// %post 2, then old %preun 1 and %postun 1, which must undo nothing), erase (%preun 0,
// %postun 0, which restore every file).
func TestRPMScriptletsHonourTheirArgument(t *testing.T) {
	before := prepareScripts(t)
	logged := script(t, nil, "rpm/post.sh", "1")
	if !strings.Contains(logged, "wrote "+ourDropIn) {
		t.Fatalf("%%post 1 did not wire sshd:\n%s", logged)
	}
	if got := effective(t, "ec2-user", "authorizedkeyscommand"); got != ourCommand {
		t.Fatalf("sshd -T command %q after %%post 1; want %q", got, ourCommand)
	}
	installed := snapshot(t)

	script(t, nil, "rpm/post.sh", "2")
	script(t, nil, "rpm/preun.sh", "1")
	script(t, nil, "rpm/postun.sh", "1")
	if d := diffSnap(installed, snapshot(t)); d != "" {
		t.Errorf("upgrade changed files:\n%s", d)
	}

	script(t, nil, "rpm/preun.sh", "0")
	script(t, nil, "rpm/postun.sh", "0")
	if d := diffSnap(before, snapshot(t)); d != "" {
		t.Errorf("after erase, files differ from before install:\n%s", d)
	}
	if _, err := os.Lstat(stateDir); !os.IsNotExist(err) {
		t.Errorf("after erase %s: %v; want it gone", stateDir, err)
	}
}

const sysusersFile = "/usr/lib/sysusers.d/eic-agent.conf"

// TestPostinstCreatesLockedCommandUser: without the account, postinst creates it as a locked
// system account with no login shell, with systemd-sysusers when the package's sysusers.d
// file is there, else with adduser; an existing one is kept, and purge leaves it.
func TestPostinstCreatesLockedCommandUser(t *testing.T) {
	for _, tc := range []struct{ name, sysusers, tool string }{
		{name: "with-sysusers", sysusers: "u ec2-instance-connect - \"EC2 Instance Connect\" /nonexistent /usr/sbin/nologin\n", tool: "systemd-sysusers"},
		{name: "with-adduser", tool: "adduser"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prepareScripts(t)
			withoutCommandUser(t)
			keep, err := os.ReadFile(sysusersFile)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if keep == nil {
					os.Remove(sysusersFile)
				} else if err := os.WriteFile(sysusersFile, keep, 0o644); err != nil {
					t.Error(err)
				}
			})
			if tc.sysusers != "" {
				write(t, map[string]string{sysusersFile: tc.sysusers})
			} else if err := os.Remove(sysusersFile); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}

			logged := script(t, nil, "deb/postinst", "configure", "")
			if want := "created locked system account " + testenv.CommandUser + " with " + tc.tool; !strings.Contains(logged, want) {
				t.Errorf("postinst log lacks %q:\n%s", want, logged)
			}
			out, err := exec.Command("getent", "passwd", testenv.CommandUser).Output()
			if err != nil {
				t.Fatalf("getent passwd %s: %v", testenv.CommandUser, err)
			}
			if f := strings.Split(strings.TrimSpace(string(out)), ":"); len(f) != 7 || !strings.HasSuffix(f[6], "nologin") {
				t.Errorf("account %q; want a nologin shell", out)
			}
			shadow, err := exec.Command("getent", "shadow", testenv.CommandUser).Output()
			if err != nil {
				t.Fatalf("getent shadow %s: %v", testenv.CommandUser, err)
			}
			if f := strings.Split(string(shadow), ":"); len(f) < 2 || (f[1] != "*" && !strings.HasPrefix(f[1], "!")) {
				t.Errorf("shadow entry %q; want a locked password (! or *)", shadow)
			}

			again := script(t, nil, "deb/postinst", "configure", "")
			if !strings.Contains(again, "account "+testenv.CommandUser+" exists: kept") {
				t.Errorf("second postinst does not say it kept the account:\n%s", again)
			}
			script(t, nil, "deb/prerm", "remove")
			script(t, nil, "deb/postrm", "purge")
			if err := exec.Command("getent", "passwd", testenv.CommandUser).Run(); err != nil {
				t.Errorf("account gone after purge (%v); want it left in place, locked", err)
			}
		})
	}
}

// withoutCommandUser deletes the command user for one test and puts the files back after.
func withoutCommandUser(t *testing.T) {
	t.Helper()
	for _, f := range []string{"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Error(err)
			}
		})
		var kept []string
		for _, line := range strings.SplitAfter(string(b), "\n") {
			if !strings.HasPrefix(line, testenv.CommandUser+":") {
				kept = append(kept, line)
			}
		}
		if err := os.WriteFile(f, []byte(strings.Join(kept, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
