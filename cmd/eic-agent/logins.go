package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/logins"
	"github.com/eic-agent/eic-agent/agent/wire"
)

const loginsUsage = `usage: eic-agent logins [--since TIME] [--until TIME] [--user NAME] [--json]
                      [--source journal|FILE] [--config FILE]

Lists public key logins with the IAM principal and SendSSHPublicKey request id of the EC2
Instance Connect key that let each one in ("-" for keys EC2 Instance Connect did not push).
TIME is RFC 3339, "YYYY-MM-DD[ HH:MM[:SS]]" (local time), @UNIX, or a duration ago ("2h").
The journal is read with journalctl; without it, /var/log/auth.log and /var/log/secure.
FILE is a syslog file or saved "journalctl -o json" output.
`

// journalTimeout bounds one journalctl run; a huge journal is better narrowed with --since.
const journalTimeout = 5 * time.Minute

// syslogFiles are read, when they exist, where there is no journalctl.
var syslogFiles = []string{"/var/log/auth.log", "/var/log/secure"}

func runLogins(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eic-agent logins", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { _, _ = io.WriteString(stderr, loginsUsage) }
	sinceArg := fs.String("since", "", "only logins at or after `TIME`")
	untilArg := fs.String("until", "", "only logins at or before `TIME`")
	userArg := fs.String("user", "", "only logins as OS user `NAME`")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	source := fs.String("source", "", "journal, or a syslog or journalctl -o json `FILE` (default: the journal, else /var/log/auth.log and /var/log/secure)")
	configPath := fs.String("config", "", "config file, for service.user (default "+config.DefaultPath+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "eic-agent logins: unexpected argument %q\n%s", fs.Arg(0), loginsUsage)
		return exitUsage
	}
	now := time.Now()
	var f logins.Filter
	var err error
	if f.Since, err = parseWhen(*sinceArg, now); err != nil {
		fmt.Fprintf(stderr, "eic-agent logins: --since: %v\n", err)
		return exitUsage
	}
	if f.Until, err = parseWhen(*untilArg, now); err != nil {
		fmt.Fprintf(stderr, "eic-agent logins: --until: %v\n", err)
		return exitUsage
	}
	f.User = *userArg
	cfg, err := config.Load(orDefault(*configPath), *configPath != "")
	if err != nil {
		fmt.Fprintf(stderr, "eic-agent logins: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ev, err := readEvents(ctx, *source, f, trustedUIDs(cfg.Service.User))
	if err != nil {
		fmt.Fprintf(stderr, "eic-agent logins: %v\n", err)
		return exitFailed
	}
	if ev.Skipped > 0 {
		fmt.Fprintf(stderr, "eic-agent logins: warning: %d sshd or eic-agent lines skipped: malformed, too long, or written by a process the journal does not show as sshd (root) or %s\n",
			ev.Skipped, cfg.Service.User)
	}
	if ev.Truncated {
		fmt.Fprintf(stderr, "eic-agent logins: warning: stopped after %d lines or %d events; narrow the range with --since and --until\n",
			logins.MaxLines, logins.MaxEvents)
	}
	out := logins.Join(ev, f)
	if *asJSON {
		err = logins.WriteJSON(stdout, out)
	} else {
		err = logins.WriteTable(stdout, out)
	}
	if err != nil {
		fmt.Fprintf(stderr, "eic-agent logins: write: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func orDefault(path string) string {
	if path == "" {
		return config.DefaultPath
	}
	return path
}

// trustedUIDs are the writers whose accept records count: root and the service account (the
// AuthorizedKeysCommandUser the packages configure), by the same rule the helper trusts the
// service by (wire.ServiceUID: not nobody, no other account on its uid). An account that fails
// it adds nothing: its records are then skipped, never trusted.
func trustedUIDs(serviceUser string) []string {
	uids := []string{"0"}
	if uid, err := wire.ServiceUID(serviceUser); err == nil {
		uids = append(uids, strconv.FormatUint(uint64(uid), 10))
	}
	return uids
}

func readEvents(ctx context.Context, source string, f logins.Filter, trusted []string) (logins.Events, error) {
	if source == "" || source == "journal" {
		path, err := logins.FindJournalctl()
		if err == nil {
			ctx, cancel := context.WithTimeout(ctx, journalTimeout)
			defer cancel()
			return logins.RunJournal(ctx, path, f.Since, f.Until, trusted)
		}
		if source == "journal" {
			return logins.Events{}, fmt.Errorf("--source journal: %w; read a syslog file with --source FILE", err)
		}
		var all logins.Events
		found := false
		for _, p := range syslogFiles {
			if _, err := os.Stat(p); err != nil {
				continue
			}
			found = true
			ev, err := readFile(p, trusted)
			if err != nil {
				return all, err
			}
			all.Accepted = append(all.Accepted, ev.Accepted...)
			all.Grants = append(all.Grants, ev.Grants...)
			all.Skipped += ev.Skipped
			all.Truncated = all.Truncated || ev.Truncated
		}
		if !found {
			return all, fmt.Errorf("no journal (%w) and none of %s: pass the log with --source FILE", err, strings.Join(syslogFiles, ", "))
		}
		return all, nil
	}
	return readFile(source, trusted)
}

// readFile reads a syslog file, or saved journalctl -o json output (it starts with "{").
func readFile(path string, trusted []string) (logins.Events, error) {
	fh, err := os.Open(path)
	if err != nil {
		return logins.Events{}, fmt.Errorf("read log: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return logins.Events{}, fmt.Errorf("read log: %w", err)
	}
	if !st.Mode().IsRegular() {
		return logins.Events{}, fmt.Errorf("read log %s: not a regular file (%s)", path, st.Mode().Type())
	}
	var first [1]byte
	if _, err := fh.ReadAt(first[:], 0); err == nil && first[0] == '{' {
		ev, err := logins.ReadJournal(fh, trusted)
		if err != nil {
			return ev, fmt.Errorf("read log %s: %w", path, err)
		}
		return ev, nil
	}
	ev, err := logins.ReadSyslog(fh, st.ModTime(), time.Local)
	if err != nil {
		return ev, fmt.Errorf("read log %s: %w", path, err)
	}
	return ev, nil
}

// parseWhen reads a --since/--until TIME; "" is no bound.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if unix, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(unix, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: @ must be followed by Unix seconds", s)
		}
		return time.Unix(n, 0), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339, YYYY-MM-DD[ HH:MM[:SS]], @UNIX or a duration ago like 2h", s)
}
