//go:build !linux

package nss

import (
	"context"
	"os/exec"
)

// runGroup runs cmd and kills it when ctx is done. Only Linux (group_linux.go) kills what getent
// started too: without waitid(WNOWAIT) a process group cannot be signalled without racing the
// reaping of its leader.
func runGroup(ctx context.Context, cmd *exec.Cmd) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()
	return cmd.Wait()
}
