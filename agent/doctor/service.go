package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"time"

	"github.com/eic-agent/eic-agent/agent/audit"
	"github.com/eic-agent/eic-agent/agent/wire"
)

// Service asks the warm service about the user through the helper's own client (wire.Ask, with
// its socket and peer trust rules) and reports what it answered and how fresh its signer is
// (when it was last verified, and when its staples were last read). Not running is a warning: the helper
// verifies directly without it.
func (d *Doctor) Service(ctx context.Context) Check {
	c := Check{Name: "service"}
	s := d.o.Config.Service
	if !s.Enabled {
		return ok(c, "service.enabled = false: the helper verifies every login directly")
	}
	start := d.o.Now()
	res, st, err := wire.AskWithStatus(ctx, s.Socket, wire.Request{User: d.o.User}, wire.ClientOptions{
		ConnectTimeout: s.ConnectTimeout.Duration,
		TrustedUser:    s.User,
	})
	took := d.o.Now().Sub(start).Round(time.Millisecond)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED):
		return warn(c, "not running: nothing answers on "+s.Socket+"; the helper verifies directly (about 10 IMDS requests per run)",
			"systemctl enable --now eic-agent.socket eic-agent.service")
	case errors.Is(err, wire.ErrNoVerdict):
		return warn(c, err.Error()+"; the helper verifies directly", "look at journalctl -u eic-agent; systemctl restart eic-agent")
	case err != nil:
		return fail(c, fmt.Sprintf("answered for %s in %s: verification failed: %v", d.o.User, took, err),
			"the same failure stops direct logins; fix the checks above")
	}
	answered := fmt.Sprintf("answered on %s for %s in %s: %s, %d key(s) accepted", s.Socket, d.o.User, took, res.Outcome, len(res.Accepted))
	if st.StaplesRead == 0 {
		return ok(c, answered+"; it holds no verified signer yet")
	}
	now := d.o.Now()
	ago := func(unix int64) time.Duration { return now.Sub(time.Unix(unix, 0)).Round(time.Second) }
	answered += fmt.Sprintf("; signer verified %s ago, staples read %s ago", ago(st.SignerVerified), ago(st.StaplesRead))
	// The background keeps the read younger than revocation_check; an older one means it
	// fails, and until it succeeds every login waits for a read of its own.
	if every := s.RevocationCheck.Duration; every > 0 && ago(st.StaplesRead) > every {
		return warn(c, answered+fmt.Sprintf(", longer than service.revocation_check (%s): its background reads fail", every),
			"journalctl -u eic-agent says why; the imds check above may too")
	}
	return ok(c, answered)
}

// Logs resolves log.target as the helper's logger does (auto: journald when its socket answers,
// else syslog, else stderr) and says where to read the records.
func (d *Doctor) Logs(context.Context) Check {
	c := Check{Name: "logs"}
	target := d.o.Config.Log.Target
	if target == "" {
		target = audit.TargetAuto
	}
	journald := func() (Check, bool) {
		if dialable("unixgram", d.o.JournalSocket) {
			return ok(c, fmt.Sprintf("%s: journald (%s): journalctl -t %s", target, d.o.JournalSocket, audit.DefaultIdentifier)), true
		}
		return Check{}, false
	}
	syslog := func() (Check, bool) {
		for _, s := range d.o.SyslogSockets {
			if dialable("unixgram", s) || dialable("unix", s) {
				return ok(c, fmt.Sprintf("%s: syslog (%s), facility authpriv, tag %s: /var/log/auth.log or /var/log/secure", target, s, audit.DefaultIdentifier)), true
			}
		}
		return Check{}, false
	}
	lost := "sshd discards the helper's stderr, so its audit records are lost"
	switch target {
	case audit.TargetJournald:
		if r, found := journald(); found {
			return r
		}
		return fail(c, "journald: its socket "+d.o.JournalSocket+" does not answer, so the helper cannot start its logger", `set log.target = "auto" or "syslog"`)
	case audit.TargetSyslog:
		if r, found := syslog(); found {
			return r
		}
		return fail(c, "syslog: no syslog socket answers, so the helper cannot start its logger", `set log.target = "auto" or "journald", or start rsyslog`)
	case audit.TargetStderr:
		return warn(c, "stderr: "+lost, `set log.target = "auto"`)
	}
	if r, found := journald(); found {
		return r
	}
	if r, found := syslog(); found {
		return r
	}
	return warn(c, "auto: neither journald nor syslog answers, so logs go to stderr: "+lost, "start systemd-journald or rsyslog")
}

func dialable(network, path string) bool {
	conn, err := net.DialTimeout(network, path, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
