package doctor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const ourLines = "AuthorizedKeysCommand /usr/sbin/eic-authorized-keys %u %f\nAuthorizedKeysCommandUser ec2-instance-connect\n"

func TestSSHDCheck(t *testing.T) {
	// Upstream's deb path, as a link to the helper (what eic-agent's package installs) and as
	// a file of its own (upstream's script still installed).
	dir := t.TempDir()
	helper := filepath.Join(dir, "eic-authorized-keys")
	if err := os.WriteFile(helper, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, config   string
		helper         string // Options.Helper; "" is the default
		compat         string // where the compatibility path links to
		status         Status
		detail, remedy string
	}{
		{name: "our-command-in-force", config: ourLines, status: OK,
			detail: "alice runs /usr/sbin/eic-authorized-keys %u %f as ec2-instance-connect; PubkeyAuthentication yes"},
		{name: "no-command", config: "", status: Fail,
			detail: "no AuthorizedKeysCommand in force for alice (set globally", remedy: "00-eic-agent.conf"},
		{name: "other-command-first", config: "AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %u\nAuthorizedKeysCommandUser nobody\n" + ourLines,
			status: Fail, detail: "is /usr/bin/sss_ssh_authorizedkeys %u, not eic-agent's (set globally", remedy: "takes the first it reads"},
		{name: "other-command-in-match-block", config: ourLines + "Match User alice\n  AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %u\n",
			status: Fail, detail: "(a Match block applies to this connection; the global value is /usr/sbin/eic-authorized-keys %u %f)"},
		{name: "match-block-for-someone-else-ignored", config: ourLines + "Match User bob\n  AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %u\n",
			status: OK, detail: "runs /usr/sbin/eic-authorized-keys"},
		{name: "pubkey-off-in-match-block", config: ourLines + "Match User alice\n  PubkeyAuthentication no\n",
			status: Fail, detail: "PubkeyAuthentication is no for alice (a Match block", remedy: "PubkeyAuthentication yes"},
		{name: "user-not-passed-first", config: "AuthorizedKeysCommand /usr/sbin/eic-authorized-keys %f %u\nAuthorizedKeysCommandUser ec2-instance-connect\n",
			status: Fail, detail: "does not pass the user name (%u) first", remedy: "%u %f"},
		{name: "command-user-not-the-service-user", config: "AuthorizedKeysCommand /usr/sbin/eic-authorized-keys %u %f\nAuthorizedKeysCommandUser nobody\n",
			status: Warn, detail: "service.user is ec2-instance-connect, so the service will not answer", remedy: "AuthorizedKeysCommandUser ec2-instance-connect"},
		{name: "broken-config-fails", config: "NoSuchKeyword yes\n", status: Fail,
			detail: "Bad configuration option", remedy: "sshd -t"},
		{name: "lookalike-path-is-not-ours", config: "AuthorizedKeysCommand /usr/sbin/eic-authorized-keys.evil %u %f\nAuthorizedKeysCommandUser ec2-instance-connect\n",
			status: Fail, detail: "not eic-agent's"},
		{name: "compat-path-linked-to-helper", helper: helper, compat: helper,
			config: "AuthorizedKeysCommand COMPAT %u %f\nAuthorizedKeysCommandUser ec2-instance-connect\n",
			status: OK, detail: "eic_run_authorized_keys %u %f as"},
		{name: "compat-path-to-upstream-script-is-not-ours", helper: helper, compat: "/bin/true",
			config: "AuthorizedKeysCommand COMPAT %u %f\nAuthorizedKeysCommandUser ec2-instance-connect\n",
			status: Fail, detail: "not eic-agent's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			link := filepath.Join(t.TempDir(), "eic_run_authorized_keys")
			o := sshdFixture(t, strings.ReplaceAll(tc.config, "COMPAT", link))
			o.Helper, o.Compat = tc.helper, []string{link}
			if tc.compat != "" {
				if err := os.Symlink(tc.compat, link); err != nil {
					t.Fatal(err)
				}
			}
			wantCheck(t, New(o).SSHD(testContext(t)), tc.status, tc.detail, tc.remedy)
		})
	}
}

// TestSSHDCheckSaysWhenSSHDHasNotRun: sshd -T refuses to run without /run/sshd, which only a
// started sshd creates (a fresh machine where sshd never ran). The real sshd is run with an
// empty /run of its own (a private mount namespace), and doctor says what to do.
func TestSSHDCheckSaysWhenSSHDHasNotRun(t *testing.T) {
	o := sshdFixture(t, ourLines)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is missing")
	}
	wrapper := filepath.Join(t.TempDir(), "sshd")
	script := "#!/bin/sh\nexec unshare --mount --propagation private sh -c 'mount -t tmpfs tmpfs /run && exec " +
		DefaultSSHD + " \"$@\"' sshd \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	o.SSHD = wrapper
	wantCheck(t, New(o).SSHD(testContext(t)), Fail, "Missing privilege separation directory", "sshd is not running here")
}
