//go:build e2e

package testenv_test

// The maintainer scripts in packaging/ run with sh as dpkg runs them, against the real sshd's
// own view of its configuration (sshd -T), inside the namespaces: /etc, /usr and /var are
// private overlays, so each case may rewrite /etc/ssh and is put back afterwards.

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/testenv"
)

const (
	wiringLib  = "/usr/share/eic-agent/sshd-wiring.sh"
	unitsLib   = "/usr/share/eic-agent/systemd-units.sh"
	ourDropIn  = "/etc/ssh/sshd_config.d/00-eic-agent.conf"
	sshdConfig = "/etc/ssh/sshd_config"
	stateDir   = "/var/lib/eic-agent"
	ourCommand = "/usr/sbin/eic-authorized-keys %u %f"
)

// What the official deb's postinst and the generic rpm's %post write, byte for byte
// (aws/aws-ec2-instance-connect-config debian/postinst, rpmsrc/SPECS/generic.spec).
const (
	officialDebDropIn = "[Service]\nExecStart=\nExecStart=/usr/sbin/sshd -D -o \"AuthorizedKeysCommand /usr/share/ec2-instance-connect/eic_run_authorized_keys %%u %%f\" -o \"AuthorizedKeysCommandUser ec2-instance-connect\" $SSHD_OPTS\n"
	officialRPMDropIn = "[Service]\nExecStart=\nExecStart=/usr/sbin/sshd -D -o \"AuthorizedKeysCommand /opt/aws/bin/eic_run_authorized_keys %%u %%f\" -o \"AuthorizedKeysCommandUser ec2-instance-connect\" $SSHD_OPTS\n"
	debUnitDropIn     = "/usr/lib/systemd/system/ssh.service.d/ec2-instance-connect.conf"
	rpmUnitDropIn     = "/usr/lib/systemd/system/sshd.service.d/ec2-instance-connect.conf"
)

const mainWithInclude = "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n"
const mainWithoutInclude = "KbdInteractiveAuthentication no\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n"

// installScripts puts the scripts the maintainer scripts run where the packages install them.
// No systemd runs here, so systemd-units.sh only logs what it could not do; the booted
// containers (agent/testenv/nspawn) check the units' side.
func installScripts(t *testing.T) {
	t.Helper()
	for src, dst := range map[string]string{"sshd-wiring.sh": wiringLib, "systemd-units.sh": unitsLib} {
		if err := testenv.Install(filepath.Join("..", "..", "packaging", src), dst); err != nil {
			t.Fatal(err)
		}
	}
}

// watched are the trees the scripts may touch; a snapshot maps each path to its mode and bytes.
var watched = []string{"/etc/ssh", "/etc/eic-agent", stateDir, "/usr/lib/systemd/system/ssh.service.d", "/usr/lib/systemd/system/sshd.service.d"}

func snapshot(t *testing.T) map[string]string {
	t.Helper()
	snap := map[string]string{}
	for _, root := range watched {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if d.IsDir() {
				snap[p] = info.Mode().String()
				return nil
			}
			b, err := os.ReadFile(p)
			snap[p] = info.Mode().String() + "\n" + string(b)
			return err
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	return snap
}

// restore makes the watched trees exactly snap again.
func restore(t *testing.T, snap map[string]string) {
	t.Helper()
	for _, root := range watched {
		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
	}
	paths := make([]string, 0, len(snap))
	for p := range snap {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents first
	for _, p := range paths {
		mode, data, isFile := strings.Cut(snap[p], "\n")
		var err error
		if !isFile {
			err = os.MkdirAll(p, 0o755)
		} else {
			perm := modeBits(mode)
			err = os.WriteFile(p, []byte(data), perm)
			if err == nil {
				err = os.Chmod(p, perm)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func modeBits(s string) os.FileMode {
	var m os.FileMode
	for i, c := range s[len(s)-9:] {
		if c != '-' {
			m |= 1 << (8 - i)
		}
	}
	return m
}

func diffSnap(want, got map[string]string) string {
	var d []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			d = append(d, "missing "+p)
		} else if g != w {
			d = append(d, "changed "+p+": want "+strings.ReplaceAll(w, "\n", `\n`)+" got "+strings.ReplaceAll(g, "\n", `\n`))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			d = append(d, "extra "+p)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

// script runs a maintainer script with sh and returns what it logged.
func script(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command("sh", append([]string{filepath.Join("..", "..", "packaging", name)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("%s %v: %v\nstdout: %s\nstderr: %s", name, args, err, out, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if line != "" && !strings.HasPrefix(line, "eic-agent: ") {
			t.Errorf("%s %v logged %q, not prefixed \"eic-agent: \"", name, args, line)
		}
	}
	return stderr.String()
}

// effective returns sshd -T's value of keyword for a connection as user (global when "").
func effective(t *testing.T, user, keyword string) string {
	t.Helper()
	v, err := effectiveValue(user, keyword)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// effectiveValue is effective for configurations sshd may refuse: the error is the answer.
func effectiveValue(user, keyword string) (string, error) {
	args := []string{"-T"}
	if user != "" {
		args = append(args, "-C", "user="+user+",host=localhost,addr=127.0.0.1")
	}
	out, err := exec.Command("/usr/sbin/sshd", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("sshd %v: %v: %s", args, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, _ := strings.Cut(line, " "); k == keyword {
			return v, nil
		}
	}
	return "", nil
}

// effectiveOrError is sshd -T's global command, or its error, for comparing before and after.
func effectiveOrError() string {
	v, err := effectiveValue("", "authorizedkeyscommand")
	if err != nil {
		return err.Error()
	}
	return v
}

func write(t *testing.T, files map[string]string) {
	t.Helper()
	for p, data := range files {
		if err := testenv.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type wiring int

const (
	untouched wiring = iota
	dropIn
	topBlock
)

func TestMaintainerScriptsWireSSHD(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	installScripts(t)
	base := snapshot(t)
	tests := []struct {
		name  string
		files map[string]string
		env   []string
		want  wiring
		// gone are the paths postinst removes for good (the official override).
		gone []string
		logs []string
		// login proves the wiring with a real ssh login through the system's sshd.
		login bool
	}{
		{name: "include-gets-first-drop-in", want: dropIn, login: true,
			files: map[string]string{sshdConfig: mainWithInclude, "/etc/ssh/sshd_config.d/50-cloud-init.conf": "PasswordAuthentication no\n"},
			logs:  []string{"account ec2-instance-connect exists", "wrote " + ourDropIn}},
		{name: "no-include-gets-marked-block-on-top", want: topBlock, login: true,
			files: map[string]string{sshdConfig: mainWithoutInclude},
			logs:  []string{"added a marked block at the top of " + sshdConfig}},
		{name: "sssd-global-command-left-alone", want: untouched,
			files: map[string]string{sshdConfig: mainWithInclude, "/etc/ssh/sshd_config.d/50-sssd.conf": "AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %u\nAuthorizedKeysCommandUser nobody\n"},
			logs:  []string{"another AuthorizedKeysCommand (global: /usr/bin/sss_ssh_authorizedkeys)", "name it in [chain] in /etc/eic-agent/config.toml", `see "Chaining another key command" in /usr/share/doc/eic-agent/README.md`}},
		{name: "sssd-with-official-override-left-alone", want: untouched,
			files: map[string]string{sshdConfig: mainWithInclude, debUnitDropIn: officialDebDropIn,
				"/etc/ssh/sshd_config.d/50-sssd.conf": "AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %u\nAuthorizedKeysCommandUser nobody\n"},
			logs: []string{"another AuthorizedKeysCommand (global: /usr/bin/sss_ssh_authorizedkeys)"}},
		{name: "match-block-command-left-alone", want: untouched,
			files: map[string]string{sshdConfig: mainWithInclude + "Match User alice\n  AuthorizedKeysCommand /usr/local/bin/opkssh verify %u %k %t\n  AuthorizedKeysCommandUser nobody\n"},
			logs:  []string{"another AuthorizedKeysCommand (user=alice: /usr/local/bin/opkssh)", "name it in [chain] in /etc/eic-agent/config.toml", `see "Chaining another key command" in /usr/share/doc/eic-agent/README.md`}},
		{name: "official-deb-override-taken-over", want: dropIn, gone: []string{debUnitDropIn, filepath.Dir(debUnitDropIn)},
			files: map[string]string{sshdConfig: mainWithInclude, debUnitDropIn: officialDebDropIn},
			logs:  []string{"ssh.service.d/ec2-instance-connect.conf, the official package's override", "wrote " + ourDropIn}},
		{name: "official-rpm-override-taken-over", want: dropIn, gone: []string{rpmUnitDropIn, filepath.Dir(rpmUnitDropIn)},
			files: map[string]string{sshdConfig: mainWithInclude, rpmUnitDropIn: officialRPMDropIn},
			logs:  []string{"sshd.service.d/ec2-instance-connect.conf, the official package's override", "wrote " + ourDropIn}},
		{name: "modified-official-override-left", want: dropIn,
			files: map[string]string{sshdConfig: mainWithInclude, debUnitDropIn: officialDebDropIn + "Environment=LOCAL=1\n"},
			logs:  []string{"ssh.service.d/ec2-instance-connect.conf: it differs from what the official package writes"}},
		{name: "al2-compat-lines-left-alone", want: untouched,
			files: map[string]string{sshdConfig: "AuthorizedKeysCommand /opt/aws/bin/eic_run_authorized_keys %u %f\nAuthorizedKeysCommandUser ec2-instance-connect\n" + mainWithoutInclude},
			logs:  []string{"already uses EC2 Instance Connect's command (/opt/aws/bin/eic_run_authorized_keys)"}},
		{name: "opt-out-file-holds", want: untouched,
			files: map[string]string{sshdConfig: mainWithInclude, "/etc/eic-agent/no-sshd-wiring": ""},
			logs:  []string{"/etc/eic-agent/no-sshd-wiring exists: sshd configuration left untouched"}},
		{name: "opt-out-variable-holds", want: untouched, env: []string{"EIC_AGENT_NO_SSHD_WIRING=1"},
			files: map[string]string{sshdConfig: mainWithInclude},
			logs:  []string{"EIC_AGENT_NO_SSHD_WIRING=1: sshd configuration left untouched"}},
		{name: "failing-sshd-config-left-alone", want: untouched,
			files: map[string]string{sshdConfig: mainWithInclude, "/etc/ssh/sshd_config.d/10-typo.conf": "AuthorizedKeysComand /usr/bin/evil\n"},
			logs:  []string{"sshd -T failed", "sshd left untouched"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { restore(t, base) })
			if err := os.RemoveAll("/etc/ssh/sshd_config.d"); err != nil {
				t.Fatal(err)
			}
			write(t, tc.files)
			before := snapshot(t)
			beforeCommand := effectiveOrError()

			logged := script(t, tc.env, "deb/postinst", "configure", "")
			for _, want := range tc.logs {
				if !strings.Contains(logged, want) {
					t.Errorf("postinst log lacks %q:\n%s", want, logged)
				}
			}
			wired := snapshot(t)
			checkWiring(t, tc.want, before, wired, tc.gone, beforeCommand)

			again := script(t, tc.env, "deb/postinst", "configure", "")
			if d := diffSnap(wired, snapshot(t)); d != "" {
				t.Errorf("second postinst changed files:\n%s\nlog:\n%s", d, again)
			}
			if tc.want != untouched && !strings.Contains(again, "already wired by this package") {
				t.Errorf("second postinst did not say it was already wired:\n%s", again)
			}
			if tc.login {
				loginThroughSystemSSHD(t)
			}

			script(t, tc.env, "deb/prerm", "remove")
			script(t, tc.env, "deb/postrm", "remove")
			want := before
			for _, p := range tc.gone {
				delete(want, p)
			}
			if d := diffSnap(want, snapshot(t)); d != "" {
				t.Errorf("after remove, files differ from before install:\n%s", d)
			}
			script(t, tc.env, "deb/postrm", "purge")
			for _, p := range []string{"/etc/eic-agent", stateDir} {
				if _, err := os.Lstat(p); !os.IsNotExist(err) {
					t.Errorf("after purge %s: %v; want it gone", p, err)
				}
			}
		})
	}
}

func checkWiring(t *testing.T, want wiring, before, wired map[string]string, gone []string, beforeCommand string) {
	t.Helper()
	for _, p := range gone {
		if _, ok := wired[p]; ok {
			t.Errorf("%s still there after postinst; want it taken over", p)
		}
	}
	if want == untouched {
		if d := diffSnap(before, wired); d != "" {
			t.Errorf("postinst changed files it must leave alone:\n%s", d)
		}
		if got := effectiveOrError(); got != beforeCommand {
			t.Errorf("sshd -T command %q after postinst; want %q as before", got, beforeCommand)
		}
		return
	}
	for _, u := range []string{"", "root", "ec2-user", "alice"} {
		if got := effective(t, u, "authorizedkeyscommand"); got != ourCommand {
			t.Errorf("sshd -T (user %q) command %q; want %q", u, got, ourCommand)
		}
		if got := effective(t, u, "authorizedkeyscommanduser"); got != testenv.CommandUser {
			t.Errorf("sshd -T (user %q) command user %q; want %q", u, got, testenv.CommandUser)
		}
	}
	main, err := os.ReadFile(sshdConfig)
	if err != nil {
		t.Fatal(err)
	}
	switch want {
	case dropIn:
		if _, ok := wired[ourDropIn]; !ok {
			t.Errorf("no %s after postinst", ourDropIn)
		}
		if d := diffSnap(map[string]string{sshdConfig: before[sshdConfig]}, map[string]string{sshdConfig: wired[sshdConfig]}); d != "" {
			t.Errorf("postinst changed %s although it includes drop-ins:\n%s", sshdConfig, d)
		}
	case topBlock:
		if !strings.HasPrefix(string(main), "# BEGIN eic-agent\n") {
			t.Errorf("%s does not start with our marked block:\n%s", sshdConfig, main)
		}
		if _, ok := wired[ourDropIn]; ok {
			t.Errorf("%s written although sshd_config includes no drop-ins", ourDropIn)
		}
	}
}

// loginThroughSystemSSHD logs in with a pushed key through an sshd that reads only the
// system's configuration, so only the scripts' wiring can make the login work.
func loginThroughSystemSSHD(t *testing.T) {
	t.Helper()
	env.Emu.SetFaults(emulator.Faults{})
	sshd, err := testenv.StartSystemSSHD()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sshd.Stop()
		if t.Failed() {
			t.Logf("sshd log:\n%s", sshd.Log())
		}
	}()
	path, pub := key(t, "ed25519")
	push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub})
	mustLogIn(t, "ec2-user", path)
	noCommandFailure(t, sshd)
}
