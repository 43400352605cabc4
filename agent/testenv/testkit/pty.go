package testkit

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// PTY opens a pseudo-terminal for t and returns its two ends: what a program writes to tty
// (its stderr, say) is read from master. A program given tty sees a terminal, as it would under
// a person's shell. Both are closed when t ends. Skips t where /dev/ptmx cannot be opened.
func PTY(t testing.TB) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	rc, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioctlErr error
	if err := rc.Control(func(fd uintptr) {
		if ioctlErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioctlErr == nil {
			n, ioctlErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	}); err != nil || ioctlErr != nil {
		t.Fatalf("unlock pseudo-terminal: %v %v", err, ioctlErr)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	// Raw output: the terminal would otherwise turn "\n" into "\r\n" on its way to master.
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	return master, tty
}

// ReadPTY closes tty (every program writing to it must have finished) and returns everything
// written to it, read from master.
func ReadPTY(t testing.TB, master, tty *os.File) string {
	t.Helper()
	tty.Close()
	// Only a broken test waits this long: the data is already buffered.
	_ = master.SetReadDeadline(time.Now().Add(30 * time.Second))
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, syscall.EIO) {
			return string(out) // every copy of tty is closed and the buffer drained
		}
		if err != nil {
			t.Fatalf("read pseudo-terminal: %v", err)
		}
	}
}
