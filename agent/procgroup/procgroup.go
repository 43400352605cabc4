// Package procgroup runs a helper program (getent, a chained AuthorizedKeysCommand) so that
// neither it nor anything it starts outlives the caller's deadline.
//
// Contract: Run starts the command as the leader of a process group of its own and kills the
// whole group with SIGKILL when the context is done, and again once the leader has exited, so
// a child that ignores SIGTERM or keeps stdout open is gone when Run returns (on Linux; other
// systems kill the leader only). WithGrace moves a deadline earlier by the time needed to kill
// and collect the group, so the caller still returns by its own deadline. Nothing here reads
// the command's output or decides what its exit status means.
package procgroup

import (
	"context"
	"time"
)

// KillGrace is kept back from the caller's deadline (at most a quarter of the time left) to
// kill the group and collect it, so the call ends by the deadline. It also bounds how long Wait
// lingers on an output pipe held open by a process that left the group (exec.Cmd.WaitDelay).
const KillGrace = 100 * time.Millisecond

// WithGrace returns ctx with its deadline moved KillGrace earlier (at most a quarter of the
// time left), and that grace, for exec.Cmd.WaitDelay. Without a deadline the grace is
// KillGrace and the context only gains a cancel.
func WithGrace(ctx context.Context) (context.Context, time.Duration, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, KillGrace, cancel
	}
	grace := min(KillGrace, time.Until(dl)/4)
	ctx, cancel := context.WithDeadline(ctx, dl.Add(-max(grace, 0)))
	return ctx, max(grace, time.Millisecond), cancel
}
