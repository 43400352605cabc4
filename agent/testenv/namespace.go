// Package testenv builds a throwaway EC2-like host inside private namespaces for end-to-end
// tests and the demo: 169.254.169.254 on a private loopback, fake EC2 platform files, the test
// root CA as the system trust store, extra users, our helper installed where sshd expects it,
// a real sshd, and a journald socket that captures the audit records.
//
// Contract: nothing it does is visible outside the namespaces. The outer process re-executes
// the program in new mount, network and PID namespaces; every mount lives in the private mount
// namespace, every process dies with the PID namespace, and the outer process checks afterwards
// that no mount, process, namespace or account was left on the host.
package testenv

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// insideEnv marks the re-executed child.
const insideEnv = "EIC_TESTENV_INSIDE"

// Inside reports whether this process is the re-executed child in the private namespaces.
func Inside() bool { return os.Getenv(insideEnv) == "1" }

// CanEnter says why the namespaces cannot be built here, or "" when they can.
func CanEnter() string {
	if os.Geteuid() != 0 {
		return "needs root (namespaces, mounts and sshd)"
	}
	for _, bin := range []string{"/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen"} {
		if _, err := os.Stat(bin); err != nil {
			return bin + " is missing: install openssh-server and openssh-client (make e2e-deps)"
		}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "ip is missing: install iproute2 (make e2e-deps)"
	}
	return ""
}

// Enter runs the current program again, with the same arguments, inside fresh mount, network
// and PID namespaces, with extra environment variables, and returns its exit code. Afterwards
// it checks the host for leftovers and reports them as an error.
func Enter(env ...string) (int, error) {
	before, err := snapshot()
	if err != nil {
		return 1, err
	}
	self, err := os.Executable()
	if err != nil {
		return 1, err
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(append(os.Environ(), insideEnv+"=1"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Go makes the new mount namespace's propagation private before exec, so nothing
		// mounted inside shows up on the host.
		Cloneflags:   syscall.CLONE_NEWNS | syscall.CLONE_NEWNET | syscall.CLONE_NEWPID,
		Unshareflags: syscall.CLONE_NEWNS,
		Pdeathsig:    syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("enter namespaces: %w", err)
	}
	netns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
	code := 0
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return 1, err
		}
		code = ee.ExitCode()
		if code < 0 {
			code = 1
		}
	}
	if err := before.leftovers(netns); err != nil {
		return code, err
	}
	return code, nil
}

// hostState is what the host looked like before the namespaces were entered.
type hostState struct {
	mounts   string
	accounts map[string][32]byte
}

var accountFiles = []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/nsswitch.conf"}

func snapshot() (hostState, error) {
	m, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return hostState{}, err
	}
	s := hostState{mounts: mountPoints(m), accounts: map[string][32]byte{}}
	for _, f := range accountFiles {
		b, err := os.ReadFile(f)
		if err == nil {
			s.accounts[f] = sha256.Sum256(b)
		}
	}
	return s, nil
}

// mountPoints lists the mount points of a mountinfo document, one per line.
func mountPoints(mountinfo []byte) string {
	var out []string
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			out = append(out, f[4])
		}
	}
	return strings.Join(out, "\n")
}

// leftovers compares the host with the snapshot and looks for processes still in the
// namespace the child ran in.
func (s hostState) leftovers(netns string) error {
	var problems []string
	m, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	if got := mountPoints(m); got != s.mounts {
		problems = append(problems, "host mounts changed:\n"+got)
	}
	for f, sum := range s.accounts {
		b, err := os.ReadFile(f)
		if err != nil || sha256.Sum256(b) != sum {
			problems = append(problems, f+" changed on the host")
		}
	}
	if netns != "" {
		procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
		for _, p := range procs {
			if l, err := os.Readlink(p); err == nil && l == netns {
				cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(p)), "cmdline"))
				problems = append(problems, fmt.Sprintf("process %s still in the test network namespace: %s",
					strings.Split(p, "/")[2], bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("testenv left things behind on the host: %s", strings.Join(problems, "; "))
	}
	return nil
}
