//go:build nspawn

package nspawn

// What one container's package check recorded (testdata/eic-pkg-check.sh), judged scenario by
// scenario.

import (
	"sort"
	"strings"
	"testing"
)

const (
	wantCommand     = "authorizedkeyscommand /usr/sbin/eic-authorized-keys %u %f"
	wantCommandUser = "authorizedkeyscommanduser ec2-instance-connect"
	ourDropIn       = "/etc/ssh/sshd_config.d/00-eic-agent.conf"
	officialPath    = "/usr/lib/systemd/system/ssh.service.d/ec2-instance-connect.conf"
	foreignCommand  = "authorizedkeyscommand /usr/bin/sss_ssh_authorizedkeys %u"
)

func judge(t *testing.T, r results, openssh, version string) {
	t.Helper()
	audit := journal(t, r.out("journal"))
	ok := func(t *testing.T, steps ...string) {
		t.Helper()
		for _, s := range steps {
			if rc := r.rc(s); rc != 0 {
				t.Errorf("step %s: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", s, rc, r.out(s), r.err(s))
			}
		}
	}
	logged := func(t *testing.T, step string, want ...string) {
		t.Helper()
		// dpkg passes the scripts' stderr on as it is; apt-get runs dpkg on a terminal of its
		// own and prints what dpkg wrote on its stdout.
		log := r.err(step) + r.out(step)
		// A shell's own complaint ("sshd-wiring.sh: 235: echo: I/O error") is a script bug
		// even when the step went on.
		for _, script := range []string{"/usr/share/eic-agent/sshd-wiring.sh:", "/usr/share/eic-agent/systemd-units.sh:"} {
			if strings.Contains(log, script) {
				t.Errorf("%s: the shell complained while running %s\n%s", step, strings.TrimSuffix(script, ":"), log)
			}
		}
		for _, w := range want {
			if !strings.Contains(log, w) {
				t.Errorf("%s: the package's log lacks %q:\n%s", step, w, log)
			}
		}
	}
	// same says two snapshots hold the same files, byte for byte: each of kinds (sshd: sshd's
	// configuration and unit drop-ins; units: /etc/systemd/system; ours: the package's
	// configuration and state).
	same := func(t *testing.T, want, got string, kinds ...string) {
		t.Helper()
		for _, k := range kinds {
			if d := snapDiff(r.read(want+"."+k), r.read(got+"."+k)); d != "" {
				t.Errorf("%s files: %s and %s differ (- only before, + only after):\n%s", k, want, got, d)
			}
		}
	}
	// installed checks what an installed package shows: its units active (its scripts started
	// them) and enabled, sshd -T with our command for everyone.
	installed := func(t *testing.T, prefix string) {
		t.Helper()
		ok(t, prefix+"-active", prefix+"-enabled", prefix+"-sshd-T", prefix+"-sshd-T-user")
		if got := r.out(prefix + "-active"); got != "active\nactive\n" {
			t.Errorf("%s: eic-agent.service and .socket %q, want active (started by the package's scripts)\nthe service: %s\nthe package's log:\n%s\ntheir journal (last lines):\n%s",
				prefix, got, r.out(prefix+"-show"), r.err(prefix)+r.out(prefix), tail([]byte(r.out("journal-eic")), 40))
		}
		for _, s := range []string{prefix + "-sshd-T", prefix + "-sshd-T-user"} {
			for _, w := range []string{wantCommand, wantCommandUser} {
				if !hasLine(r.out(s), w) {
					t.Errorf("%s lacks %q:\n%s", s, w, grepAuthorized(r.out(s)))
				}
			}
		}
	}
	// loggedIn checks a login with a key pushed to the emulator: ssh succeeded, and the audit
	// record shows the service accepted exactly that key.
	loggedIn := func(t *testing.T, name string) {
		t.Helper()
		ok(t, name+"-push", name)
		if got := r.out(name); got != "logged-in\n" {
			t.Errorf("%s: ssh printed %q, want \"logged-in\\n\"; stderr:\n%s", name, got, r.err(name))
		}
		fp := strings.TrimSpace(r.read(name + ".fp"))
		for _, e := range audit {
			if e["EVENT"] == "accept" && e["FINGERPRINT"] == fp {
				if e["PATH"] != "service" || e["USER"] != "ec2-user" {
					t.Errorf("%s: accept record PATH=%q USER=%q, want service, ec2-user: %s", name, e["PATH"], e["USER"], e["MESSAGE"])
				}
				return
			}
		}
		t.Errorf("%s: no accept record for %s in journalctl -t ec2-instance-connect", name, fp)
	}

	if left := r.read("leftover"); left != "" {
		t.Logf("processes the scenarios left in the check unit (stopped before power-off):\n%s", left)
	}

	t.Run("setup", func(t *testing.T) {
		ok(t, "ip-addr", "fake-sysfs", "emulator-ready", "useradd-ec2-user", "ssh-up")
		if !strings.Contains(r.out("versions"), openssh) {
			t.Errorf("container runs %q, want %q", r.out("versions"), openssh)
		}
	})

	t.Run("install-starts-units-and-wires-sshd", func(t *testing.T) {
		ok(t, "install", "install-account", "install-shadow")
		installed(t, "install")
		logged(t, "install", "created locked system account ec2-instance-connect", "wrote "+ourDropIn, "started eic-agent.socket eic-agent.service")
		if f := strings.Split(r.out("install-account"), ":"); len(f) != 7 || !strings.HasSuffix(strings.TrimSpace(f[6]), "nologin") {
			t.Errorf("account %q, want a nologin shell", r.out("install-account"))
		}
		if f := strings.Split(r.out("install-shadow"), ":"); len(f) < 2 || !strings.HasPrefix(f[1], "!") {
			t.Errorf("shadow entry %q, want a locked password (\"!...\")", r.out("install-shadow"))
		}
		loggedIn(t, "install-login")
	})

	t.Run("reinstall-changes-nothing", func(t *testing.T) {
		ok(t, "reinstall", "reinstall-active")
		same(t, "install-after", "reinstall-after", "sshd", "units", "ours")
	})

	t.Run("remove-restores-sshd-purge-removes-config", func(t *testing.T) {
		ok(t, "remove", "purge", "purge-account")
		if got := r.out("remove-active"); got != "inactive\ninactive\n" {
			t.Errorf("after dpkg -r eic-agent.service and .socket %q, want inactive", got)
		}
		same(t, "install-before", "remove-after", "sshd", "units")
		if got := r.read("purge-after.ours"); got != "" {
			t.Errorf("after dpkg --purge, left:\n%s", got)
		}
	})

	t.Run("upgrade-keeps-admin-edits", func(t *testing.T) {
		ok(t, "upgrade-old", "upgrade")
		// Before: the old version installed, its drop-in and config.toml edited by the admin.
		same(t, "upgrade-before", "upgrade-after", "sshd", "units", "ours")
		if got := strings.TrimSpace(r.out("upgrade-version")); got != version {
			t.Errorf("installed version %q after the upgrade, want %q", got, version)
		}
		logged(t, "upgrade", "upgrade: keeping the sshd wiring")
		installed(t, "upgrade")
		loggedIn(t, "upgrade-login")
	})

	for _, name := range []string{"sssd-global", "sssd-match"} {
		t.Run("foreign-command-left-alone/"+name, func(t *testing.T) {
			ok(t, name+"-login-before", name+"-install", name+"-sshd-T-user", name+"-login-after")
			same(t, name+"-before", name+"-after", "sshd")
			logged(t, name+"-install", "sshd already uses another AuthorizedKeysCommand (", "/usr/bin/sss_ssh_authorizedkeys)",
				"to add EC2 Instance Connect, chain that command from /usr/sbin/eic-authorized-keys")
			if !hasLine(r.out(name+"-sshd-T-user"), foreignCommand) {
				t.Errorf("sshd -T for ec2-user after install: %s, want %q", grepAuthorized(r.out(name+"-sshd-T-user")), foreignCommand)
			}
		})
	}

	t.Run("official-override-taken-over", func(t *testing.T) {
		ok(t, "official-ssh", "official-cmdline", "official-install")
		if w := "-o AuthorizedKeysCommand /usr/share/ec2-instance-connect/eic_run_authorized_keys %u %f"; !strings.Contains(r.out("official-cmdline"), w) {
			t.Errorf("sshd before install ran as %q, want %q in it (the override in force)", r.out("official-cmdline"), w)
		}
		if !strings.Contains(r.read("official-before.sshd"), " "+officialPath+" ") {
			t.Errorf("official drop-in missing before install:\n%s", r.read("official-before.sshd"))
		}
		if strings.Contains(r.read("official-after.sshd"), officialPath) {
			t.Errorf("official drop-in still there after install:\n%s", r.read("official-after.sshd"))
		}
		logged(t, "official-install", "ssh.service.d/ec2-instance-connect.conf, the official package's override", "wrote "+ourDropIn)
		installed(t, "official")
		loggedIn(t, "official-login")
	})

	t.Run("no-include-gets-top-block", func(t *testing.T) {
		ok(t, "noinclude-install", "noinclude-head", "noinclude-remove")
		if got := r.out("noinclude-head"); got != "# BEGIN eic-agent\n" {
			t.Errorf("sshd_config starts with %q, want our marked block", got)
		}
		logged(t, "noinclude-install", "added a marked block at the top of /etc/ssh/sshd_config")
		installed(t, "noinclude")
		loggedIn(t, "noinclude-login")
		same(t, "noinclude-before", "noinclude-after", "sshd", "units")
	})

	for _, tc := range []struct{ name, log string }{
		{"optout-file", "/etc/eic-agent/no-sshd-wiring exists: sshd configuration left untouched"},
		{"optout-env", "EIC_AGENT_NO_SSHD_WIRING=1: sshd configuration left untouched"},
	} {
		t.Run("opt-out-holds/"+tc.name, func(t *testing.T) {
			ok(t, tc.name+"-install", tc.name+"-remove")
			same(t, tc.name+"-before", tc.name+"-after", "sshd")
			logged(t, tc.name+"-install", tc.log)
		})
	}

	t.Run("rpm-scriptlets", func(t *testing.T) {
		ok(t, "rpm-install", "rpm-erase", "rpm-old", "rpm-upgrade", "rpm-erase2")
		installed(t, "rpm-install")
		logged(t, "rpm-install", "wrote "+ourDropIn)
		loggedIn(t, "rpm-install-login")
		if got := r.out("rpm-erase-active"); got != "inactive\ninactive\n" {
			t.Errorf("after rpm -e eic-agent.service and .socket %q, want inactive", got)
		}
		same(t, "rpm-before", "rpm-erase-after", "sshd", "units", "ours")
		same(t, "rpm-upgrade-before", "rpm-upgrade-after", "sshd", "units", "ours")
		if got := strings.TrimSpace(r.out("rpm-upgrade-version")); !strings.HasPrefix(got, "eic-agent-"+version+"-") {
			t.Errorf("rpm -q after rpm -U: %q, want eic-agent-%s-*", got, version)
		}
		installed(t, "rpm-upgrade")
		loggedIn(t, "rpm-upgrade-login")
		same(t, "rpm-before", "rpm-erase2-after", "sshd", "units", "ours")
	})

	// Each scenario starts from where the container booted: the suite's own restore worked.
	t.Run("every-scenario-starts-pristine", func(t *testing.T) {
		for _, s := range []string{"install", "upgrade", "sssd-global", "sssd-match", "official", "noinclude", "optout-file", "optout-env", "rpm"} {
			ok(t, "reset-"+s+"-ssh") // sshd restarted and listening
			same(t, "pristine", "reset-"+s, "sshd", "units", "ours")
		}
	})
}

// snapDiff lists the lines only in want (-) and only in got (+), or "" when they match.
func snapDiff(want, got string) string {
	count := map[string]int{}
	for _, l := range strings.Split(want, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(got, "\n") {
		count[l]--
	}
	var d []string
	for l, n := range count {
		switch {
		case n > 0:
			d = append(d, "- "+l)
		case n < 0:
			d = append(d, "+ "+l)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

func hasLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// grepAuthorized keeps sshd -T's authorizedkeys* lines, for messages.
func grepAuthorized(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "authorizedkeys") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
