// Package audit builds the zap logger eic-agent writes to and defines the two
// audit records: an accepted key and a rejected one.
//
// Contract: nothing is ever written to stdout, which sshd parses as
// authorized_keys. Logs go to journald, to syslog with facility authpriv, or to
// a caller-supplied stderr writer. The accepted-key message keeps upstream's
// exact wording so existing log parsers keep working; everything else is in
// structured fields. Records never carry a signature or any credential, and
// values that came from an unverified block are named as claimed.
//
// New keeps the syslog connection open for the life of the process (the
// helper makes one logger per run; the service one per process).
package audit

import (
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"os"

	"github.com/coreos/go-systemd/v22/journal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// DefaultIdentifier is upstream's syslog tag, kept so log filters still match.
const DefaultIdentifier = "ec2-instance-connect"

// The targets Config.Target accepts.
const (
	TargetAuto     = "auto"
	TargetJournald = "journald"
	TargetSyslog   = "syslog"
	TargetStderr   = "stderr"
)

// Config says where logs go. Zero values mean the documented defaults.
type Config struct {
	// Target is auto (default), journald, syslog or stderr. auto picks
	// journald when its socket answers, else syslog when it can be dialed,
	// else stderr.
	Target string
	// Level is debug, info (default), warn or error.
	Level string
	// Identifier is SYSLOG_IDENTIFIER / the syslog tag; default
	// DefaultIdentifier.
	Identifier string
	// Stderr receives the stderr target and zap's own errors; default
	// os.Stderr.
	Stderr io.Writer
	// SyslogAddr is a unixgram socket path; "" means the local syslog
	// (/dev/log and its usual alternatives).
	SyslogAddr string
	// Terminal says a person is reading Stderr (see IsTerminal): every record
	// then also goes to Stderr when the target is journald or syslog, so a
	// mistake made at the keyboard is not only in a log they are not watching.
	// Under sshd and systemd stderr is not a terminal and nothing changes.
	Terminal bool
}

// New returns a logger for cfg. An explicit target that is unavailable is an
// error; auto always succeeds by falling back to stderr.
func New(cfg Config) (*zap.Logger, error) {
	level, err := parseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	if cfg.Identifier == "" {
		cfg.Identifier = DefaultIdentifier
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	errOut := zapcore.Lock(zapcore.AddSync(cfg.Stderr))

	var core zapcore.Core
	toStderr := false
	switch cfg.Target {
	case TargetJournald:
		if !journal.Enabled() {
			return nil, errors.New("log target journald: journal socket /run/systemd/journal/socket is not available; use target syslog or stderr")
		}
		core = newJournalCore(level, cfg.Identifier)
	case TargetSyslog:
		w, err := dialSyslog(cfg)
		if err != nil {
			return nil, fmt.Errorf("log target syslog: %w", err)
		}
		core = newSyslogCore(level, w)
	case TargetStderr:
		core, toStderr = newStderrCore(level, errOut), true
	case TargetAuto, "":
		core, toStderr = autoCore(level, cfg, errOut)
	default:
		return nil, fmt.Errorf("log target %q: must be one of auto, journald, syslog, stderr", cfg.Target)
	}
	if cfg.Terminal && !toStderr {
		core = zapcore.NewTee(core, newStderrCore(level, errOut))
	}
	return zap.New(core, zap.ErrorOutput(errOut)), nil
}

// autoCore picks journald, else syslog, else stderr, and says whether it picked stderr.
func autoCore(level zapcore.Level, cfg Config, errOut zapcore.WriteSyncer) (zapcore.Core, bool) {
	if journal.Enabled() {
		return newJournalCore(level, cfg.Identifier), false
	}
	if w, err := dialSyslog(cfg); err == nil {
		return newSyslogCore(level, w), false
	}
	return newStderrCore(level, errOut), true
}

// IsTerminal reports whether w is a terminal (a person is reading it), for Config.Terminal.
// Anything but an *os.File, such as a test's buffer, is not.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	// SyscallConn rather than Fd: Fd would put the descriptor into blocking mode.
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var ioctlErr error
	if err := rc.Control(func(fd uintptr) { _, ioctlErr = unix.IoctlGetTermios(int(fd), unix.TCGETS) }); err != nil {
		return false
	}
	return ioctlErr == nil
}

func dialSyslog(cfg Config) (*syslog.Writer, error) {
	network := ""
	if cfg.SyslogAddr != "" {
		network = "unixgram"
	}
	// The priority's severity is only a default: every write picks its own.
	w, err := syslog.Dial(network, cfg.SyslogAddr, syslog.LOG_AUTHPRIV|syslog.LOG_INFO, cfg.Identifier)
	if err != nil {
		addr := cfg.SyslogAddr
		if addr == "" {
			addr = "/dev/log"
		}
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return w, nil
}

func parseLevel(s string) (zapcore.Level, error) {
	switch s {
	case "debug":
		return zapcore.DebugLevel, nil
	case "info", "":
		return zapcore.InfoLevel, nil
	case "warn":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return 0, fmt.Errorf("log level %q: must be one of debug, info, warn, error", s)
}
