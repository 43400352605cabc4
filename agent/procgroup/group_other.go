//go:build !linux

package procgroup

import (
	"context"
	"os/exec"
)

// Run runs cmd and kills it when ctx is done. Only Linux (group_linux.go) kills what cmd
// started too: without waitid(WNOWAIT) a process group cannot be signalled without racing the
// reaping of its leader.
func Run(ctx context.Context, cmd *exec.Cmd) error {
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
