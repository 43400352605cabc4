package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SSHDAddr is where the test sshd listens, inside the private network namespace.
const SSHDAddr = "127.0.0.1:22"

// SSHD is a running sshd whose log (sshd -e) is captured.
type SSHD struct {
	cmd  *exec.Cmd
	log  *SyncBuffer
	done chan error
}

// SSHDConfig is the part of sshd_config a test chooses; the rest is fixed.
type SSHDConfig struct {
	// Command is the AuthorizedKeysCommand line, e.g. "/usr/sbin/eic-authorized-keys %u %f".
	Command string
	// CommandUser is the AuthorizedKeysCommandUser.
	CommandUser string
}

// StartSSHD writes a config and host key under Work and starts sshd in the foreground. It
// returns once sshd accepts connections.
func StartSSHD(c SSHDConfig) (*SSHD, error) {
	dir := filepath.Join(Work, "sshd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	if _, err := os.Stat(hostKey); err != nil {
		if err := run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey); err != nil {
			return nil, err
		}
	}
	conf := fmt.Sprintf(`ListenAddress %s
HostKey %s
PidFile none
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
StrictModes yes
LogLevel VERBOSE
AuthorizedKeysFile .ssh/authorized_keys
AuthorizedKeysCommand %s
AuthorizedKeysCommandUser %s
`, SSHDAddr, hostKey, c.Command, c.CommandUser)
	confPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.Command("/usr/sbin/sshd", "-t", "-f", confPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sshd -t: %v: %s", err, out)
	}
	return startSSHD("-f", confPath)
}

// StartSystemSSHD starts sshd in the foreground on the system's own configuration
// (/etc/ssh/sshd_config and what it includes), so a test logs in through whatever the
// packaging scripts wired. The command line sets only where it listens, no pid file and no
// PAM (the namespace has no PAM session setup): never anything about keys.
func StartSystemSSHD() (*SSHD, error) {
	return startSSHD("-o", "ListenAddress="+SSHDAddr, "-o", "PidFile=none", "-o", "UsePAM=no")
}

func startSSHD(args ...string) (*SSHD, error) {
	s := &SSHD{log: &SyncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command("/usr/sbin/sshd", append([]string{"-D", "-e"}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	if err := waitDial("tcp", SSHDAddr, 10*time.Second, s.done); err != nil {
		s.Stop()
		return nil, fmt.Errorf("sshd did not start: %w\n%s", err, s.Log())
	}
	return s, nil
}

// waitDial polls until addr accepts a connection, the process ends, or the deadline passes.
func waitDial(network, addr string, timeout time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout(network, addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case e := <-exited:
			return fmt.Errorf("exited: %v", e)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// Log returns everything sshd logged so far.
func (s *SSHD) Log() string { return s.log.String() }

// Stop terminates sshd and waits for it.
func (s *SSHD) Stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Login is the result of one ssh invocation.
type Login struct {
	Stdout, Stderr string
	Err            error
}

// OK reports whether ssh ran the command successfully.
func (l Login) OK() bool { return l.Err == nil }

// SSH logs in as user with the private key at keyPath and runs command.
func SSH(ctx context.Context, user, keyPath, command string) Login {
	cmd := exec.CommandContext(ctx, "/usr/bin/ssh", "-F", "/dev/null",
		"-i", keyPath, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
		"-p", "22", user+"@127.0.0.1", command)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return Login{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// KeyGen makes a client key pair of the given ssh-keygen type ("ed25519", "rsa", "ecdsa") and
// returns the private key path and the public key line.
func KeyGen(name, kind string) (string, string, error) {
	dir := filepath.Join(Work, "client-keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	path := filepath.Join(dir, name)
	args := []string{"-q", "-t", kind, "-N", "", "-C", name, "-f", path}
	if kind == "rsa" {
		args = append(args, "-b", "3072")
	}
	if err := run("ssh-keygen", args...); err != nil {
		return "", "", err
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		return "", "", err
	}
	return path, strings.TrimSpace(string(pub)), nil
}

// Fingerprint returns the SHA256 fingerprint of a public key file, as ssh-keygen -l shows it.
func Fingerprint(pubPath string) (string, error) {
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", pubPath).Output()
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return "", errors.New("ssh-keygen -l: unexpected output")
	}
	return f[1], nil
}

// SyncBuffer collects what a process writes while it runs; safe to read meanwhile.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func credentialsOf(u User) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.UID)}}
}
