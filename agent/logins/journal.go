package logins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/procgroup"
)

// JournalFields are the fields asked of journalctl: enough to parse and to judge the writer
// (_UID and _HOSTNAME are set by journald itself, not by the writer).
var JournalFields = []string{"MESSAGE", "SYSLOG_IDENTIFIER", "_UID", "_HOSTNAME",
	"EVENT", "USER", "FINGERPRINT", "REQUEST_ID", "CALLER"}

// journalctlPaths are where journalctl lives; PATH is not consulted, so root running this
// from an odd environment still runs the system's.
var journalctlPaths = []string{"/usr/bin/journalctl", "/bin/journalctl"}

// ErrNoJournalctl: there is no journalctl (the caller falls back to syslog files).
var ErrNoJournalctl = errors.New("journalctl not found in /usr/bin or /bin")

// FindJournalctl returns the system's journalctl.
func FindJournalctl() (string, error) {
	for _, p := range journalctlPaths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrNoJournalctl
}

// JournalArgs is journalctl's command line for since..until (zero: open), matching sshd's and
// our records only. Since is moved back by GrantWindow, so the grant of the first login in
// range is read too.
func JournalArgs(since, until time.Time) []string {
	args := []string{"-o", "json", "--no-pager", "--quiet", "--output-fields=" + strings.Join(JournalFields, ",")}
	if !since.IsZero() {
		args = append(args, "--since=@"+strconv.FormatInt(since.Add(-GrantWindow).Unix(), 10))
	}
	if !until.IsZero() {
		args = append(args, "--until=@"+strconv.FormatInt(until.Add(GrantSkew).Unix()+1, 10))
	}
	// The same field given several times: any of them matches.
	return append(args, "SYSLOG_IDENTIFIER=sshd", "SYSLOG_IDENTIFIER=sshd-session", "SYSLOG_IDENTIFIER=ec2-instance-connect")
}

// RunJournal runs journalctl (path from FindJournalctl) and reads its output with
// ReadJournal. ctx bounds the run; reading stops early at the limits.
func RunJournal(ctx context.Context, path string, since, until time.Time, trustedUIDs []string) (Events, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, JournalArgs(since, until)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "SYSTEMD_PAGER=cat"}
	stderr := &procgroup.Output{Max: 4096}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Events{}, fmt.Errorf("journalctl: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return Events{}, fmt.Errorf("journalctl: %w", err)
	}
	ev, rerr := ReadJournal(out, trustedUIDs)
	if ev.Truncated {
		cancel() // the rest is not wanted
	}
	_, _ = io.Copy(io.Discard, out)
	werr := cmd.Wait()
	if rerr != nil {
		return ev, fmt.Errorf("journalctl output: %w", rerr)
	}
	if werr != nil && !ev.Truncated {
		if ctx.Err() != nil {
			return ev, fmt.Errorf("journalctl: %w", ctx.Err())
		}
		return ev, fmt.Errorf("journalctl: %w: %s", werr, strings.TrimSpace(stderr.String()))
	}
	return ev, nil
}

// ReadJournal reads `journalctl -o json` output: one JSON object per line. Only string values
// count (journald writes binary values as arrays). sshd's lines count when journald says
// root wrote them; accept records when their _UID is in trustedUIDs (decimal strings).
func ReadJournal(r io.Reader, trustedUIDs []string) (Events, error) {
	var ev Events
	err := eachLine(r, &ev, func(line []byte) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			return
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(line, &raw); err != nil {
			ev.Skipped++
			return
		}
		str := func(k string) string {
			var s string
			if v, ok := raw[k]; !ok || json.Unmarshal(v, &s) != nil {
				return ""
			}
			return s
		}
		ev.addJournal(str, trustedUIDs)
	})
	return ev, err
}

func (ev *Events) addJournal(str func(string) string, trustedUIDs []string) {
	tag, msg, uid := str("SYSLOG_IDENTIFIER"), str("MESSAGE"), str("_UID")
	usec, err := strconv.ParseInt(str("__REALTIME_TIMESTAMP"), 10, 64)
	timeOK := err == nil && usec > 0
	t := time.UnixMicro(usec)
	host := str("_HOSTNAME")
	switch tag {
	case "sshd", "sshd-session":
		if !strings.HasPrefix(msg, acceptedPrefix) {
			return
		}
		ev.add(tag, msg, t, host, timeOK && uid == "0")
	case "ec2-instance-connect":
		trusted := timeOK && slices.Contains(trustedUIDs, uid)
		switch str("EVENT") {
		case "":
			// Logged through syslog (the fields are in the message) or by upstream.
			ev.add(tag, msg, t, host, trusted)
		case "accept":
			g, err := ParseGrant(msg)
			if err == nil {
				err = g.agree("accept", str("FINGERPRINT"), str("REQUEST_ID"), str("CALLER"), str("USER"))
			}
			if err != nil || !trusted {
				ev.Skipped++
				return
			}
			g.User, g.Time, g.Host = str("USER"), t, host
			ev.Grants = append(ev.Grants, g)
		}
	}
}
