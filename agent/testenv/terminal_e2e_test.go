//go:build e2e

package testenv_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// TestTypoInConfigReachesTerminal is the case a new user met: on a host with journald and
// log.target = "auto", a typo in --config printed nothing and exited 2. At a terminal the
// error is now on the screen as well as in the journal; to a pipe (what sshd gives the helper)
// it still goes to the journal only.
func TestTypoInConfigReachesTerminal(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	const typo = "/etc/eic-agent/confg.toml"
	for _, terminal := range []bool{true, false} {
		name := "pipe-gets-nothing"
		if terminal {
			name = "terminal-shows-the-error"
		}
		t.Run(name, func(t *testing.T) {
			mark := env.Journal.Mark()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, testenv.HelperPath, "--config", typo, "ec2-user")
			cmd.Env = []string{}
			var pipe bytes.Buffer
			var master, tty = testkit.PTY(t)
			cmd.Stderr = &pipe
			if terminal {
				cmd.Stderr = tty
			}
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("helper with a mistyped --config: %v; want exit status 2", err)
			}
			shown := pipe.String()
			if terminal {
				shown = testkit.ReadPTY(t, master, tty)
			}
			if terminal && (strings.Count(shown, typo) != 1 || !strings.Contains(shown, "configuration error")) {
				t.Errorf("terminal shows %q; want the configuration error naming %s once", shown, typo)
			}
			if !terminal && shown != "" {
				t.Errorf("stderr to a pipe got %q; want nothing (the journal has it)", shown)
			}
			if _, ok := env.Journal.WaitFor(mark, 5*time.Second, func(e testenv.Entry) bool {
				return strings.Contains(e["MESSAGE"], "configuration error") && strings.Contains(e["ERROR"], typo)
			}); !ok {
				t.Errorf("no configuration error in the journal; journal: %v", env.Journal.Since(mark))
			}
		})
	}
}
