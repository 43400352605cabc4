// Package chain runs another AuthorizedKeysCommand (SSSD's, opkssh's, a site's own) for the
// helper, so that installing EC2 Instance Connect does not take the place of the key source a
// host already had: sshd allows one AuthorizedKeysCommand per connection.
//
// Contract: Run expands the configured argv template with what sshd passed (no shell), checks
// the program the way sshd checks its own command (sshdpath.Check), and runs it as the caller's own
// user with sshd's minimal environment, stdin /dev/null and the working directory "/", in a
// process group of its own that is killed as a whole at its timeout. It keeps at most
// Config.MaxOutput bytes of stdout (the rest is read and discarded so the command is not
// killed by SIGPIPE) and MaxStderr bytes of stderr. Its keys count only when it exits 0 before
// its timeout, as sshd would ignore every key of a command that fails; and only the lines
// keys.ParseForeignLine accepts pass. Run never prints and never decides an exit status: the
// helper does, printing these keys after its own.
package chain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/procgroup"
	"github.com/eic-agent/eic-agent/agent/sshdpath"
)

// MaxStderr is how much of the command's stderr is kept for the log.
const MaxStderr = 4 << 10

// DefaultPath is the PATH sshd gives its key command (OpenSSH's _PATH_STDPATH).
const DefaultPath = "/usr/bin:/bin:/usr/sbin:/sbin"

// Config is the [chain] table, resolved.
type Config struct {
	// Command is the argv template (see Expand); argv[0] is an absolute path.
	Command []string
	// Timeout bounds the run; the caller's context may end it sooner. Zero: the context only.
	Timeout time.Duration
	// MaxOutput is how many bytes of stdout are kept; must be positive.
	MaxOutput int64
	// Env is the command's whole environment (see SSHDEnv); nil means an empty one.
	Env []string
}

// SSHDEnv returns the environment sshd gives a key command: PATH, and USER, LOGNAME, HOME and
// LANG as getenv has them (sshd set them for the helper from AuthorizedKeysCommandUser, so
// the chained command sees what it would see run by sshd as that user). Nothing else of the
// helper's environment passes.
func SSHDEnv(getenv func(string) string) []string {
	env := []string{"PATH=" + DefaultPath}
	for _, k := range []string{"USER", "LOGNAME", "HOME", "LANG"} {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Reason says why a chained command's keys were not used. Values are stable: logs and tests
// match on them.
type Reason string

// Failure reasons.
const (
	// ReasonMissingArgument: the template uses a token sshd did not pass to the helper.
	ReasonMissingArgument Reason = "missing-argument"
	// ReasonUnsafePath: the program fails sshd's ownership and mode rule (sshdpath.Check).
	ReasonUnsafePath Reason = "unsafe-path"
	// ReasonStartFailed: it could not be started (missing, not executable).
	ReasonStartFailed Reason = "start-failed"
	// ReasonTimeout: it did not finish in time; it was killed with all it started.
	ReasonTimeout Reason = "timeout"
	// ReasonExitStatus: it exited non-zero or was killed by a signal.
	ReasonExitStatus Reason = "exit-status"
	// ReasonFailed: anything else (the context was cancelled, its output stayed open).
	ReasonFailed Reason = "failed"
)

// Error is a run whose keys are not used.
type Error struct {
	Command string
	Reason  Reason
	Err     error
}

func (e *Error) Error() string { return fmt.Sprintf("chained command %s: %v", e.Command, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// Result is what one run gave.
type Result struct {
	Command string // the program's path
	// Keys are the lines that passed, in the command's order; empty unless it exited 0.
	Keys []keys.Foreign
	// Refused counts output lines that are not authorized_keys entries; FirstRefusal says
	// why the first was refused, with its line number.
	Refused      int
	FirstRefusal string
	// Discarded is how many stdout bytes past MaxOutput were read and thrown away (a line cut
	// by the limit is among them).
	Discarded int64
	// Stderr is the start of its stderr, StderrDiscarded what was thrown away after it.
	Stderr          string
	StderrDiscarded int64
	Elapsed         time.Duration
}

// Lines renders the keys as sshd reads them, one per line.
func (r Result) Lines() string {
	var b strings.Builder
	for _, k := range r.Keys {
		b.WriteString(k.Line)
		b.WriteByte('\n')
	}
	return b.String()
}

// Run runs the command once for a. It returns the keys that passed, or an *Error saying why
// there are none; the Result also carries what the log needs in either case.
func Run(ctx context.Context, cfg Config, a Args) (Result, error) {
	res := Result{}
	if len(cfg.Command) > 0 {
		res.Command = cfg.Command[0]
	}
	fail := func(reason Reason, err error) (Result, error) {
		return res, &Error{Command: res.Command, Reason: reason, Err: err}
	}
	argv, err := Expand(cfg.Command, a)
	if err != nil {
		return fail(ReasonMissingArgument, err)
	}
	// The file checked is the file run: the resolved path, so a symlink changed in between
	// cannot swap in another program (and the links are resolved once).
	real, err := sshdpath.Check(argv[0])
	if err != nil {
		return fail(ReasonUnsafePath, fmt.Errorf("not run: %w", err))
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	runCtx, grace, cancel := procgroup.WithGrace(ctx)
	defer cancel()
	stdout := &procgroup.Output{Max: max(cfg.MaxOutput, 0)}
	stderr := &procgroup.Output{Max: MaxStderr}
	cmd := exec.Command(real, argv[1:]...)
	cmd.Args[0] = argv[0]                    // the name it was configured by, as sshd passes it
	cmd.Env = append([]string{}, cfg.Env...) // non-nil: never the helper's own environment
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = grace
	start := time.Now()
	err = procgroup.Run(runCtx, cmd)
	res.Elapsed = time.Since(start)
	res.Stderr, res.StderrDiscarded = stderr.String(), stderr.Discarded
	res.Discarded = stdout.Discarded

	var exitErr *exec.ExitError
	switch {
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		return fail(ReasonTimeout, fmt.Errorf("no answer in %s (chain.timeout or the helper's deadline); killed it and everything it started", res.Elapsed.Round(time.Millisecond)))
	case runCtx.Err() != nil:
		return fail(ReasonFailed, runCtx.Err())
	case cmd.ProcessState == nil && err != nil:
		return fail(ReasonStartFailed, fmt.Errorf("start: %w", err))
	case errors.As(err, &exitErr):
		return fail(ReasonExitStatus, fmt.Errorf("%v; sshd too ignores every key of a command that fails", exitErr.ProcessState))
	case err != nil:
		return fail(ReasonFailed, err)
	}
	res.Keys, res.Refused, res.FirstRefusal = parse(stdout.Bytes(), stdout.Discarded > 0)
	if stdout.Discarded > 0 {
		// The cut line's bytes are discarded too: count them.
		if i := bytes.LastIndexByte(stdout.Bytes(), '\n'); i+1 < len(stdout.Bytes()) {
			res.Discarded += int64(len(stdout.Bytes()) - i - 1)
		}
	}
	return res, nil
}

// parse reads out as sshd reads an authorized_keys file: blank lines and comments are
// skipped, a line ending in CRLF counts as the line, every other line must be an entry. When
// cut is set, the bytes after the last newline are a line the limit cut and are dropped.
func parse(out []byte, cut bool) (found []keys.Foreign, refused int, first string) {
	if cut {
		out = out[:bytes.LastIndexByte(out, '\n')+1]
	}
	for n, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if t := strings.TrimLeft(line, " \t"); t == "" || t[0] == '#' {
			continue
		}
		f, _, detail := keys.ParseForeignLine(line)
		if f.Key == nil {
			if refused++; refused == 1 {
				first = fmt.Sprintf("line %d: %s", n+1, detail)
			}
			continue
		}
		found = append(found, f)
	}
	return found, refused, first
}
