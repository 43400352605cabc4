package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/chain"
	"github.com/eic-agent/eic-agent/agent/config"
)

// chainRun is the chained command running alongside the EC2 Instance Connect lookup, so that
// neither waits for the other; nil when the config names none.
type chainRun struct {
	user string // for its record
	done chan struct{}
	res  chain.Result
	err  error
}

// startChain starts the config's chained command under ctx (the helper's deadline) and its own
// timeout.
func startChain(ctx context.Context, cfg config.Config, a chain.Args) *chainRun {
	if len(cfg.Chain.Command) == 0 {
		return nil
	}
	r := &chainRun{user: a.User, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.res, r.err = chain.Run(ctx, chain.Config{
			Command:   cfg.Chain.Command,
			Timeout:   cfg.Chain.Timeout.Duration,
			MaxOutput: cfg.Chain.MaxOutputBytes,
			Env:       chain.SSHDEnv(os.Getenv),
		}, a)
	}()
	return r
}

// wait waits for the chained command (its timeout and the helper's deadline bound the wait),
// records the run and returns the keys to print after the EC2 Instance Connect ones: none when
// it failed.
func (r *chainRun) wait(log *zap.Logger) string {
	if r == nil {
		return ""
	}
	<-r.done
	r.res.Record(log, r.user, r.err)
	if r.err != nil {
		return ""
	}
	return r.res.Lines()
}

// maxKeyArg bounds sshd's %k: a base64 public key or certificate is a few KiB at most.
const maxKeyArg = 16 << 10

// checkKeyArgs refuses TYPE and KEY arguments that cannot be what sshd passes for %t and %k
// (both empty when sshd was not asked to pass them). The helper only hands them on to a
// chained command, so this keeps it from handing on anything else.
func checkKeyArgs(keyType, key string) error {
	if keyType == "" && key == "" {
		return nil
	}
	if len(keyType) == 0 || len(keyType) > 64 {
		return fmt.Errorf("key type %.64q: want 1 to 64 characters, as sshd's %%t gives", keyType)
	}
	for _, c := range []byte(keyType) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '@' || c == '_') {
			return fmt.Errorf("key type %.64q: only letters, digits and - . @ _ are allowed, as in sshd's %%t", keyType)
		}
	}
	if len(key) == 0 || len(key) > maxKeyArg {
		return fmt.Errorf("key: want 1 to %d characters of base64, as sshd's %%k gives (got %d)", maxKeyArg, len(key))
	}
	if _, err := base64.StdEncoding.DecodeString(key); err != nil {
		return fmt.Errorf("key %.32q...: not base64, as sshd's %%k gives", key)
	}
	return nil
}
