package doctor

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/procgroup"
)

// maxSSHDOutput bounds what sshd -T may print; its whole configuration is a few KiB.
const maxSSHDOutput = 1 << 20

// sshdView is sshd's effective configuration: for the diagnosed user's connection (Match blocks
// applied) and globally, each keyword (lowercase) with its first value.
type sshdView struct {
	match, global map[string]string
}

// readSSHD asks sshd for its effective settings, for the user's connection and globally: the
// two answers differ exactly when a Match block changes something for this user.
func (d *Doctor) readSSHD(ctx context.Context) (sshdView, error) {
	spec := "user=" + d.o.User + ",host=localhost,addr=127.0.0.1"
	match, err := d.sshdT(ctx, "-C", spec)
	if err != nil {
		return sshdView{}, err
	}
	global, err := d.sshdT(ctx)
	if err != nil {
		return sshdView{}, err
	}
	return sshdView{match: match, global: global}, nil
}

func (d *Doctor) sshdT(ctx context.Context, extra ...string) (map[string]string, error) {
	args := append(append(slices.Clone(d.o.SSHDArgs), "-T"), extra...)
	cmd := exec.CommandContext(ctx, d.o.SSHD, args...)
	cmd.Env = []string{}
	out := &procgroup.Output{Max: maxSSHDOutput, Strict: true}
	errOut := &procgroup.Output{Max: 64 << 10, Strict: true}
	cmd.Stdout, cmd.Stderr = out, errOut
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	what := d.o.SSHD + " " + strings.Join(args, " ")
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: no answer in time: %w", what, ctx.Err())
	case out.Discarded > 0:
		return nil, fmt.Errorf("%s: more than %d bytes of output", what, maxSSHDOutput)
	case err != nil:
		msg := firstLine(errOut.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("%s: %s", what, msg)
	}
	settings := map[string]string{}
	for line := range strings.SplitSeq(out.String(), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		k = strings.ToLower(k)
		if _, seen := settings[k]; k != "" && !seen {
			settings[k] = v
		}
	}
	if _, ok := settings["authorizedkeyscommand"]; !ok {
		return nil, fmt.Errorf("%s: its output names no authorizedkeyscommand; is %s OpenSSH's sshd?", what, d.o.SSHD)
	}
	return settings, nil
}

// SSHD checks sshd's effective settings for the user: our command and its user in force, and
// public key authentication on; otherwise which command wins and why.
func (d *Doctor) SSHD(ctx context.Context) Check {
	c := Check{Name: "sshd"}
	v, err := d.sshd.get(ctx, d.readSSHD)
	if err != nil && strings.Contains(err.Error(), "Missing privilege separation directory") {
		// sshd -T needs /run/sshd, which a started sshd creates: here sshd has not run since boot.
		return fail(c, err.Error(), "sshd is not running here: start it (systemctl start ssh, or sshd on Red Hat), or mkdir -m 0755 /run/sshd and run doctor again")
	}
	if err != nil {
		return fail(c, err.Error(), "fix what sshd reports (sshd -t shows it), or run doctor as root so sshd can read its host keys")
	}
	u := d.o.User
	if pk := v.match["pubkeyauthentication"]; pk != "yes" {
		return fail(c, fmt.Sprintf("PubkeyAuthentication is %s for %s%s", pk, u, d.why(v, "pubkeyauthentication")),
			"set PubkeyAuthentication yes where it is turned off, then reload sshd")
	}
	cmdline := v.match["authorizedkeyscommand"]
	path, args, _ := strings.Cut(cmdline, " ")
	if cmdline == "" || cmdline == "none" {
		return fail(c, fmt.Sprintf("no AuthorizedKeysCommand in force for %s%s", u, d.why(v, "authorizedkeyscommand")),
			fmt.Sprintf("reinstall eic-agent, or add AuthorizedKeysCommand %s %%u %%f and AuthorizedKeysCommandUser %s to /etc/ssh/sshd_config.d/00-eic-agent.conf, then reload sshd", d.o.Helper, d.o.Config.Service.User))
	}
	if !d.ours(path) {
		return fail(c, fmt.Sprintf("AuthorizedKeysCommand for %s is %s, not eic-agent's%s", u, cmdline, d.why(v, "authorizedkeyscommand")),
			"sshd runs one AuthorizedKeysCommand per connection and takes the first it reads: remove or move the other one, then reload sshd")
	}
	if a := strings.Fields(args); len(a) == 0 || a[0] != "%u" {
		return fail(c, fmt.Sprintf("AuthorizedKeysCommand %s does not pass the user name (%%u) first", cmdline),
			fmt.Sprintf("write AuthorizedKeysCommand %s %%u %%f, then reload sshd", path))
	}
	cmdUser := v.match["authorizedkeyscommanduser"]
	detail := fmt.Sprintf("%s runs %s as %s; PubkeyAuthentication yes", u, cmdline, cmdUser)
	if s := d.o.Config.Service; s.Enabled && cmdUser != s.User && cmdUser != "root" {
		return warn(c, detail+"; but service.user is "+s.User+", so the service will not answer the helper",
			fmt.Sprintf("set AuthorizedKeysCommandUser %s (or service.user = %q), then reload sshd", s.User, cmdUser))
	}
	return ok(c, detail)
}

// why explains a connection's value of keyword: a Match block, when the global value differs,
// else the first place sshd reads it from.
func (d *Doctor) why(v sshdView, keyword string) string {
	if g := v.global[keyword]; g != v.match[keyword] {
		return fmt.Sprintf(" (a Match block applies to this connection; the global value is %s)", g)
	}
	return " (set globally: sshd takes the first value it reads: -o options, then sshd_config.d drop-ins in name order and sshd_config, as Included)"
}

// ours reports whether path is eic-agent's helper: its own path, or one of upstream's paths
// when it resolves to the same file.
func (d *Doctor) ours(path string) bool {
	if path == d.o.Helper {
		return true
	}
	if !slices.Contains(d.o.Compat, path) {
		return false
	}
	got, err1 := filepath.EvalSymlinks(path)
	want, err2 := filepath.EvalSymlinks(d.o.Helper)
	return err1 == nil && err2 == nil && got == want
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}

func ok(c Check, detail string) Check { c.Status, c.Detail = OK, detail; return c }

func warn(c Check, detail, remedy string) Check {
	c.Status, c.Detail, c.Remedy = Warn, detail, remedy
	return c
}

func fail(c Check, detail, remedy string) Check {
	c.Status, c.Detail, c.Remedy = Fail, detail, remedy
	return c
}
