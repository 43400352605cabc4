package procgroup

import (
	"context"
	"errors"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Run runs cmd (not started yet) as the leader of a process group of its own and kills the
// whole group with SIGKILL when ctx is done and again once the leader has exited, so nothing
// it started (an NSS helper, a stuck child that ignores SIGTERM) outlives the call or keeps its
// stdout open. It overwrites cmd.SysProcAttr. It returns cmd.Wait's error.
func Run(ctx context.Context, cmd *exec.Cmd) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	pgid := cmd.Process.Pid
	var (
		mu     sync.Mutex
		reaped bool
	)
	// The group is only signalled while its leader is unreaped (running or a zombie): its pid,
	// and so the group id, cannot be given to anyone else before that.
	killGroup := func() {
		mu.Lock()
		defer mu.Unlock()
		if !reaped {
			_ = unix.Kill(-pgid, unix.SIGKILL)
		}
	}
	stop := context.AfterFunc(ctx, killGroup)
	defer stop()
	// Once the leader has exited, kill whatever it left behind. Should waiting fail, the kill
	// also makes sure Wait below cannot hang.
	_ = waitExited(pgid)
	killGroup()
	mu.Lock()
	reaped = true
	mu.Unlock()
	return cmd.Wait()
}

// waitExited blocks until process pid has exited, without reaping it (WNOWAIT).
func waitExited(pid int) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
