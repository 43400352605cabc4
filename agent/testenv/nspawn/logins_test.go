//go:build nspawn

package nspawn

// eic-agent logins against a real journald: real sshd logins in the booted container (an EIC
// key logged through journald, another through syslog, and a key from authorized_keys), then
// `eic-agent logins` run inside it. With EIC_LOGINS_RECORD=DIR the journal it read is also
// saved there, which is how agent/logins/testdata was made.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv"
)

const loginsSSHDConfig = `ListenAddress 127.0.0.1
HostKey /etc/ssh/ssh_host_ed25519_key
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
AuthorizedKeysCommand /usr/sbin/eic-authorized-keys %u %f
AuthorizedKeysCommandUser ec2-instance-connect
`

const loginsUnit = `[Unit]
Description=eic-agent logins check
SuccessAction=poweroff
FailureAction=poweroff
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/eic-logins-check
TimeoutStartSec=180s
[Install]
WantedBy=multi-user.target
`

// loginsScript runs in the container; like eic-nspawn-check it records every step and never
// stops at a failing one.
const loginsScript = `#!/bin/bash
R=/eic-results
IN=/eic-in
touch "$R/started"
step() {
	name=$1
	shift
	"$@" >"$R/$name.out" 2>"$R/$name.err"
	echo $? >"$R/$name.rc"
}
ssh_as() { # USER KEY
	ssh -F /dev/null -i "$2" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 "$1@127.0.0.1" whoami
}
step useradd-service useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ec2-instance-connect
step useradd-sshd sh -c 'getent passwd sshd >/dev/null || useradd --system --no-create-home --home-dir /run/sshd --shell /usr/sbin/nologin sshd'
for u in ec2-user admin; do
	step useradd-$u useradd --create-home --shell /bin/sh $u
	usermod -p '*' $u # locked ("!") accounts get no public key login without PAM
done
install -d -m 700 -o admin -g admin /home/admin/.ssh
install -m 600 -o admin -g admin "$IN/file.pub" /home/admin/.ssh/authorized_keys
for k in eic eic2 file; do install -m 600 "$IN/$k" "/root/$k"; done

step ip-addr ip addr add 169.254.169.254/32 dev lo
/usr/sbin/eic-emulator serve --imds 169.254.169.254:80 --control 127.0.0.1:8169 \
	--root-ca-out /etc/eic-agent/root.pem --ready-file /run/eic-emulator.ready >"$R/emulator.log" 2>&1 &
i=0
until [ -s /run/eic-emulator.ready ] || [ $i -ge 200 ]; do sleep 0.1; i=$((i + 1)); done

install -d -m 755 /run/sshd
step hostkey sh -c "rm -f /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key"
step sshd /usr/sbin/sshd
i=0
until (exec 3<>/dev/tcp/127.0.0.1/22) 2>/dev/null || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done

step push-eic eic-emulator push --user ec2-user --key "$IN/eic.pub" --caller arn:aws:iam::123456789012:user/alice
step login-eic ssh_as ec2-user /root/eic
step login-file ssh_as admin /root/file
# The helper logging through syslog instead (log.target = "syslog"): the fields end up in the
# message, as they would in /var/log/auth.log.
cp /etc/eic-agent/config-syslog.toml /etc/eic-agent/config.toml
step push-eic2 eic-emulator push --user ec2-user --key "$IN/eic2.pub" --caller arn:aws:sts::123456789012:assumed-role/Ops/bob@example.com
step login-eic2 ssh_as ec2-user /root/eic2
step uid id -u ec2-instance-connect

journalctl --sync
sel="SYSLOG_IDENTIFIER=sshd SYSLOG_IDENTIFIER=ec2-instance-connect"
step journal journalctl -o json --no-pager $sel
step authlog journalctl -o short --no-pager $sel
step authlog-iso journalctl -o short-iso --no-pager $sel
step logins /usr/sbin/eic-agent logins
step logins-json /usr/sbin/eic-agent logins --json
step logins-admin /usr/sbin/eic-agent logins --user admin --json
step journal-all journalctl -b -o short-precise --no-pager
touch "$R/done"
`

func TestLoginsFromRealJournal(t *testing.T) {
	if why := canRun(); why != "" {
		skip(t, "%s", why)
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	m := newMachine(t, "eic-nspawn-logins", cachedRoot(t, ctx, "bookworm"))
	bin := t.TempDir()
	build(t, bin)
	keys := loginsUpper(t, m.upper, bin, m.in)
	r := m.run(t, ctx, 5*time.Minute)
	res := m.res
	if dst := os.Getenv("EIC_LOGINS_RECORD"); dst != "" {
		for _, f := range []string{"journal.out", "authlog.out", "authlog-iso.out", "logins.out"} {
			b, err := os.ReadFile(filepath.Join(res, f))
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dst, f), b, 0o644)
		}
		write(t, filepath.Join(dst, "env"), []byte(fmt.Sprintf("UID_SERVICE=%s\nFP_EIC=%s\nFP_EIC2=%s\nFP_FILE=%s\nREQ_EIC=%s\nREQ_EIC2=%s\n",
			strings.TrimSpace(r.out("uid")), keys["eic"], keys["eic2"], keys["file"], requestID(t, r, "push-eic"), requestID(t, r, "push-eic2"))), 0o644)
	}

	for _, s := range []string{"useradd-service", "useradd-sshd", "useradd-ec2-user", "useradd-admin", "ip-addr",
		"hostkey", "sshd", "push-eic", "push-eic2", "journal", "logins", "logins-json"} {
		if rc := r.rc(s); rc != 0 {
			t.Errorf("step %s: exit %d, want 0; stderr:\n%s", s, rc, r.err(s))
		}
	}
	for s, user := range map[string]string{"login-eic": "ec2-user", "login-file": "admin", "login-eic2": "ec2-user"} {
		if rc, out := r.rc(s), strings.TrimSpace(r.out(s)); rc != 0 || out != user {
			t.Fatalf("%s: exit %d, whoami %q; want 0, %s\nstderr: %s\njournal:\n%s", s, rc, out, user, r.err(s), tail([]byte(r.out("journal-all")), 60))
		}
	}

	type row struct {
		User        string `json:"user"`
		Fingerprint string `json:"fingerprint"`
		Principal   string `json:"principal"`
		RequestID   string `json:"request_id"`
		From        string `json:"from"`
	}
	want := []row{
		{"ec2-user", keys["eic"], "arn:aws:iam::123456789012:user/alice", requestID(t, r, "push-eic"), "127.0.0.1"},
		{"admin", keys["file"], "", "", "127.0.0.1"},
		{"ec2-user", keys["eic2"], "arn:aws:sts::123456789012:assumed-role/Ops/bob@example.com", requestID(t, r, "push-eic2"), "127.0.0.1"},
	}
	var got []row
	if err := json.Unmarshal([]byte(r.out("logins-json")), &got); err != nil {
		t.Fatalf("logins --json: %v\n%s", err, r.out("logins-json"))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("logins --json in the container:\n got %v\nwant %v\nstderr: %s", got, want, r.err("logins-json"))
	}
	if e := r.err("logins"); e != "" {
		t.Errorf("logins wrote to stderr: %s", e)
	}
	var admin []row
	if err := json.Unmarshal([]byte(r.out("logins-admin")), &admin); err != nil || len(admin) != 1 || admin[0] != want[1] {
		t.Errorf("logins --user admin: %v %v, want only %v", admin, err, want[1])
	}
	t.Logf("eic-agent logins in the container:\n%s", r.out("logins"))
}

func requestID(t *testing.T, r results, step string) string {
	t.Helper()
	var a struct{ RequestId string }
	if err := json.Unmarshal([]byte(r.out(step)), &a); err != nil || a.RequestId == "" {
		t.Fatalf("%s: no request id in %q: %v", step, r.out(step), err)
	}
	return a.RequestId
}

// loginsUpper writes the container's additions: our binaries, the check unit and script,
// configs and client keys (the root has Debian's OpenSSH). It returns the keys' fingerprints
// by name.
func loginsUpper(t *testing.T, upper, bin, in string) map[string]string {
	t.Helper()
	copyFile := func(src, dst string, mode os.FileMode) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(upper, dst), b, mode)
	}
	for _, c := range []string{"eic-agent", "eic-authorized-keys", "eic-emulator"} {
		copyFile(filepath.Join(bin, c), "/usr/sbin/"+c, 0o755)
	}
	// The root's own sshd is started by the script with this test's config: the packaged
	// ssh.service must not take port 22 first.
	if err := os.MkdirAll(filepath.Join(upper, "etc/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/null", filepath.Join(upper, "etc/systemd/system/ssh.service")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(upper, "/etc/ssh/sshd_config"), []byte(loginsSSHDConfig), 0o644)
	write(t, filepath.Join(upper, "/etc/systemd/system/eic-logins-check.service"), []byte(loginsUnit), 0o644)
	write(t, filepath.Join(upper, "/usr/local/sbin/eic-logins-check"), []byte(loginsScript), 0o755)
	wants := filepath.Join(upper, "etc/systemd/system/multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../eic-logins-check.service", filepath.Join(wants, "eic-logins-check.service")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(upper, sysfsRoot, "devices/virtual/dmi/id/board_asset_tag"), []byte(instanceID+"\n"), 0o444)
	conf := fmt.Sprintf("# written by the logins nspawn test\n[trust]\nca = \"/etc/eic-agent/root.pem\"\n[platform]\nsysfs_root = %q\n[service]\nenabled = false\n", sysfsRoot)
	write(t, filepath.Join(upper, "/etc/eic-agent/config.toml"), []byte(conf+"[log]\ntarget = \"journald\"\n"), 0o644)
	write(t, filepath.Join(upper, "/etc/eic-agent/config-syslog.toml"), []byte(conf+"[log]\ntarget = \"syslog\"\n"), 0o644)
	for _, d := range []string{"eic-results", "eic-in"} {
		if err := os.MkdirAll(filepath.Join(upper, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fps := map[string]string{}
	for _, k := range []string{"eic", "eic2", "file"} {
		p := filepath.Join(in, k)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", k, "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
		fp, err := testenv.Fingerprint(p + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		fps[k] = fp
	}
	return fps
}
