package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
	"github.com/eic-agent/eic-agent/agent/wire"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eic-agent-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "eic-agent")
	// Built as shipped (static), the way the e2e tests build it.
	if _, err := testenv.Build(dir, "eic-agent"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const testUser = "ec2-user"

var (
	pkiOnce sync.Once
	pkiVal  *pki.PKI
	pkiErr  error
)

type fixture struct {
	in     *testenv.Instance
	emu    *emulator.Emulator
	dir    string
	socket string
	config string
	user   string
}

// newFixture starts the emulator and writes a config whose service runs as the current user,
// on a socket in a short temp dir (unix socket paths are limited to 108 bytes).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	me := testenv.ServiceUser(t)
	pkiOnce.Do(func() { pkiVal, pkiErr = pki.New(pki.Options{}) })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	in := testenv.NewInstance(t, pkiVal)
	f := &fixture{in: in, emu: in.Emu, dir: in.Dir, socket: filepath.Join(in.Dir, "run", "agent.sock"), user: me}
	f.config = f.write(t, "config.toml", f.configText(in.URL, in.CA, "3s", "1s"))
	return f
}

// slowIMDS gives every IMDS request the longest timeout the config allows, for tests that hold
// a request at IMDS on purpose and must not see it time out first.
func (f *fixture) slowIMDS(t *testing.T) {
	t.Helper()
	f.write(t, "config.toml", f.configText(f.in.URL, f.in.CA, "10s", "5s"))
}

func (f *fixture) configText(endpoint, ca, deadline, requestTimeout string) string {
	return fmt.Sprintf(`deadline = %q
[imds]
endpoint = %q
request_timeout = %q
[trust]
ca = %q
[platform]
sysfs_root = %q
[users]
getent = "none"
[log]
target = "stderr"
level = "debug"
[service]
socket = %q
user = %q
`, deadline, endpoint, requestTimeout, ca, f.in.Sys, f.socket, f.user)
}

func (f *fixture) write(t *testing.T, rel, content string) string {
	return f.in.Write(t, rel, content)
}

// push pushes a fresh Ed25519 key for testUser and returns its fingerprint.
func (f *fixture) push(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	if _, err := f.emu.Push(emulator.Push{OSUser: testUser, PublicKey: line}); err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(k)
}

// query asks the service for fp's key as the helper does.
func (f *fixture) query(fp string) (lookup.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return wire.Ask(ctx, f.socket, wire.Request{User: testUser, Fingerprint: fp},
		wire.ClientOptions{ConnectTimeout: time.Second, Timeout: 10 * time.Second, TrustedUIDs: []uint32{uint32(os.Getuid())}})
}

func (f *fixture) mustServe(t *testing.T, fp string) {
	t.Helper()
	res, err := f.query(fp)
	if err != nil || len(res.Accepted) != 1 || res.Accepted[0].Fingerprint != fp {
		t.Fatalf("query for %s: accepted %+v, err %v", fp, res.Accepted, err)
	}
}

type proc struct {
	cmd    *exec.Cmd
	stderr *testenv.SyncBuffer
	done   chan struct{}
	err    error
}

// start runs argv with env (and nothing else from the test's environment but PATH).
func start(t *testing.T, env []string, argv ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(argv[0], argv[1:]...), stderr: &testenv.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s stderr:\n%s", argv[0], p.stderr.String())
		}
	})
	return p
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait returns the exit status, or fails the test when the process does not end in time.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("process did not exit")
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// waitLog polls the process's stderr for want.
func (p *proc) waitLog(t *testing.T, want string) {
	t.Helper()
	testkit.WaitFor(t, fmt.Sprintf("log line %q", want), func() bool { return strings.Contains(p.stderr.String(), want) })
}

// notifier is a NOTIFY_SOCKET of the test's own.
type notifier struct {
	path string
	conn *net.UnixConn
}

func newNotifier(t *testing.T, dir string) *notifier {
	t.Helper()
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifier{path: path, conn: conn}
}

// expect reads notifications until one has the line want, and returns every line read.
func (n *notifier) expect(t *testing.T, want string) []string {
	t.Helper()
	var seen []string
	buf := make([]byte, 4096)
	_ = n.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		m, err := n.conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %q (got %q): %v", want, seen, err)
		}
		lines := strings.Split(string(buf[:m]), "\n")
		seen = append(seen, lines...)
		for _, l := range lines {
			if l == want {
				return seen
			}
		}
	}
}
