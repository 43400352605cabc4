package logins

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// SyslogLine is one line of a syslog file (/var/log/auth.log, /var/log/secure).
type SyslogLine struct {
	Time time.Time
	Host string
	Tag  string // the program: sshd, ec2-instance-connect
	Msg  string
}

// syslogHeader: "TIMESTAMP HOST TAG[PID]: " or "TIMESTAMP HOST TAG: ". TIMESTAMP is rsyslog's
// traditional "Nov  3 23:04:05" or an RFC 3339 time (rsyslog's high-precision format, or
// journalctl -o short-iso).
var syslogHeader = regexp.MustCompile(`^([A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})) ([^ ]+) ([A-Za-z0-9._/-]+)(?:\[[0-9]+\])?: `)

// ParseSyslog reads one line. A traditional timestamp has no year and no zone: it is read in
// loc, in the latest year that does not put it more than a day after ref (the file's
// modification time, or now).
func ParseSyslog(line string, ref time.Time, loc *time.Location) (SyslogLine, error) {
	m := syslogHeader.FindStringSubmatch(line)
	if m == nil {
		return SyslogLine{}, fmt.Errorf("syslog line %q: no TIME HOST TAG: header", clip(line))
	}
	t, err := syslogTime(m[1], ref, loc)
	if err != nil {
		return SyslogLine{}, fmt.Errorf("syslog line %q: %w", clip(line), err)
	}
	return SyslogLine{Time: t, Host: m[2], Tag: m[3], Msg: line[len(m[0]):]}, nil
}

func syslogTime(s string, ref time.Time, loc *time.Location) (time.Time, error) {
	if s[0] >= '0' && s[0] <= '9' {
		for _, layout := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z0700"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339", s)
	}
	t, err := time.ParseInLocation("Jan _2 15:04:05", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: %w", s, err)
	}
	ref = ref.In(loc)
	t = time.Date(ref.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc)
	if t.After(ref.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t, nil
}

// ReadSyslog reads a syslog file. It trusts the file's lines as far as syslog can be trusted:
// any local user can write a line with any tag to /dev/log.
func ReadSyslog(r io.Reader, ref time.Time, loc *time.Location) (Events, error) {
	var ev Events
	err := eachLine(r, &ev, func(line []byte) {
		s := string(line)
		if !strings.Contains(s, acceptedPrefix) && !strings.Contains(s, grantPrefix) {
			return
		}
		sl, err := ParseSyslog(s, ref, loc)
		if err != nil {
			ev.Skipped++
			return
		}
		ev.add(sl.Tag, sl.Msg, sl.Time, sl.Host, true)
	})
	return ev, err
}

// add parses msg as sshd's or ours according to tag and keeps it. Lines of other tags, and
// sshd lines that are not accepted logins, are ignored; a line that should parse and does not,
// or one whose writer is not trusted, is counted as skipped.
func (ev *Events) add(tag, msg string, t time.Time, host string, trusted bool) {
	switch tag {
	case "sshd", "sshd-session":
		a, err := ParseAccepted(msg)
		if errors.Is(err, ErrNotAccepted) {
			return
		}
		if err != nil || !trusted {
			ev.Skipped++
			return
		}
		a.Time, a.Host = t, host
		ev.Accepted = append(ev.Accepted, a)
	case "ec2-instance-connect":
		g, err := ParseGrant(msg)
		if errors.Is(err, ErrNotGrant) {
			return
		}
		if err != nil || !trusted {
			ev.Skipped++
			return
		}
		g.Time, g.Host = t, host
		ev.Grants = append(ev.Grants, g)
	}
}

// eachLine calls fn with every line of r, without its newline, skipping (and counting) lines
// longer than MaxLineBytes and stopping at MaxLines or MaxEvents.
func eachLine(r io.Reader, ev *Events, fn func([]byte)) error {
	br := newLineReader(r)
	for n := 0; ; n++ {
		if n >= MaxLines || ev.full() {
			ev.Truncated = true
			return nil
		}
		line, tooLong, err := br.next()
		if tooLong {
			ev.Skipped++
		} else if len(line) > 0 {
			fn(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
