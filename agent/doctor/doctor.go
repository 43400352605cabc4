// Package doctor diagnoses why EC2 Instance Connect logins fail on this host: eic-agent doctor's
// checklist. Each check is its own method returning a Check (ok, warn or fail, one line of
// detail, one line of remedy), learnt from the real thing: sshd's own answer (`sshd -T`), the
// files on disk, NSS, sysfs, IMDS, the verified signer, the service's socket and the log
// sockets.
//
// Contract: it changes nothing. It talks to IMDS only through agent/imds (token first, never
// IMDSv1), verifies the signer only through lookup.Direct and agent/signer, reaches the service
// only through agent/wire's client and its trust rules, and runs sshd only as `sshd -T`, with a
// deadline and bounded output. Every check has its own deadline, so one that hangs (an IMDS
// that never answers) delays the report by at most that. It returns checks; cmd decides what
// to print and how to exit.
package doctor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/imds"
)

// Status is a check's verdict.
type Status int

// The statuses, in order of gravity.
const (
	OK Status = iota
	Warn
	Fail
)

var statusNames = [...]string{"ok", "warn", "fail"}

func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// MarshalText writes "ok", "warn" or "fail".
func (s Status) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(statusNames) {
		return nil, fmt.Errorf("unknown status %d", int(s))
	}
	return []byte(statusNames[s]), nil
}

// Check is one line of the checklist. The JSON field names and check names are stable (README,
// "Diagnose a login: eic-agent doctor").
type Check struct {
	// Name is the check's stable name: sshd, command-path, command-user, platform, imds,
	// clock, signer, service, logs.
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Detail says what was found, in one line.
	Detail string `json:"detail"`
	// Remedy says what to do, in one line; empty when the check passed.
	Remedy string `json:"remedy,omitempty"`
}

// Defaults for Options.
const (
	DefaultUser          = "root"
	DefaultSSHD          = "/usr/sbin/sshd"
	DefaultHelper        = "/usr/sbin/eic-authorized-keys"
	DefaultJournalSocket = "/run/systemd/journal/socket"
	DefaultCheckTimeout  = 5 * time.Second
	// IMDSTimeout bounds the reachability probe: IMDS answers in milliseconds when it answers.
	IMDSTimeout = 2 * time.Second
)

// CompatPaths are where the official ec2-instance-connect packages put their command; existing
// sshd configurations name them, and eic-agent's packages link both to the helper.
func CompatPaths() []string {
	return []string{"/opt/aws/bin/eic_run_authorized_keys", "/usr/share/ec2-instance-connect/eic_run_authorized_keys"}
}

// DefaultSyslogSockets are where the local syslog daemon listens (log/syslog's list).
func DefaultSyslogSockets() []string { return []string{"/dev/log", "/var/run/syslog", "/var/run/log"} }

// Options say what to examine. Zero values mean the defaults; tests point them at temp dirs.
type Options struct {
	// Config is the configuration the helper and the service run with.
	Config config.Config
	// User is the login to diagnose (default DefaultUser): sshd's Match blocks and the service's
	// answer are for this user.
	User string
	// SSHD is the sshd binary asked for its effective settings (default DefaultSSHD).
	SSHD string
	// SSHDArgs come before -T on sshd's command line: "-f FILE" for a non-default
	// configuration, "-o ..." options sshd is started with, "-h KEY" for tests.
	SSHDArgs []string
	// Helper is eic-agent's AuthorizedKeysCommand (default DefaultHelper).
	Helper string
	// Compat are other paths that count as the helper when they resolve to it (default
	// CompatPaths).
	Compat []string
	// Root is where /.dockerenv, /run/.containerenv and /proc are looked for (default "/").
	Root string
	// JournalSocket and SyslogSockets are where log.target auto looks.
	JournalSocket string
	SyslogSockets []string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// CheckTimeout bounds each check (default DefaultCheckTimeout).
	CheckTimeout time.Duration
}

// Doctor runs the checks. Results the checks share (sshd's settings, the IMDS probe) are
// fetched once.
type Doctor struct {
	o     Options
	sshd  memo[sshdView]
	probe memo[imds.Probe]
}

// memo holds a result computed once, within the deadline of the first check that needs it.
type memo[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (m *memo[T]) get(ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	m.once.Do(func() { m.v, m.err = f(ctx) })
	return m.v, m.err
}

// New fills in the defaults.
func New(o Options) *Doctor {
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.SSHD == "" {
		o.SSHD = DefaultSSHD
	}
	if o.Helper == "" {
		o.Helper = DefaultHelper
	}
	if o.Compat == nil {
		o.Compat = CompatPaths()
	}
	if o.Root == "" {
		o.Root = "/"
	}
	if o.JournalSocket == "" {
		o.JournalSocket = DefaultJournalSocket
	}
	if o.SyslogSockets == nil {
		o.SyslogSockets = DefaultSyslogSockets()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = DefaultCheckTimeout
	}
	return &Doctor{o: o}
}

// Run runs every check in order, each within its own deadline under ctx.
func (d *Doctor) Run(ctx context.Context) []Check {
	checks := []func(context.Context) Check{
		d.SSHD, d.CommandPath, d.CommandUser, d.Platform, d.IMDS, d.Clock, d.Signer, d.Service, d.Logs,
	}
	out := make([]Check, 0, len(checks))
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, d.o.CheckTimeout)
		out = append(out, c(cctx))
		cancel()
	}
	return out
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}
