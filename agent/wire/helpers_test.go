package wire

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/lookup"
)

// The test binary doubles as a tiny client or server run as another uid (see TestMain).
const (
	childModeEnv = "EIC_WIRE_TEST_CHILD"
	childSockEnv = "EIC_WIRE_TEST_SOCKET"
	nobodyUID    = 65534
)

func TestMain(m *testing.M) {
	switch os.Getenv(childModeEnv) {
	case "":
		os.Exit(m.Run())
	case "client":
		os.Exit(childClient(os.Getenv(childSockEnv)))
	case "server":
		os.Exit(childServer(os.Getenv(childSockEnv)))
	default:
		fmt.Fprintln(os.Stderr, "unknown child mode")
		os.Exit(2)
	}
}

// childClient sends one valid request and prints how many bytes of answer came back.
func childClient(path string) int {
	conn, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	line, _ := EncodeRequest(Request{User: "alice"})
	// A refusing server may close before the request is written: what it answered is the point.
	if _, err := conn.Write(line); err != nil && !errors.Is(err, syscall.EPIPE) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	data, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("answer-bytes=%d\n", len(data))
	return 0
}

// childServer serves canned no-keys answers on path until its stdin closes.
func childServer(path string) int {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Chmod(path, 0o777); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	fmt.Println("ready")
	err = Serve(ctx, ln, func(_ context.Context, req Request) Response {
		return FromResult(lookup.Result{Outcome: lookup.NoKeys, User: req.User}, nil)
	}, ServerOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the other end of the socket as uid 65534")
	}
}

// sharedDir is a short world-writable directory holding a copy of the test binary, so that a
// child running as uid 65534 can run it and both ends can reach the socket.
func sharedDir(t *testing.T) (dir, bin string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "wire")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "wire.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

func asNobody(ctx context.Context, bin, mode, sock string) *exec.Cmd {
	return asUID(ctx, bin, mode, sock, nobodyUID)
}

func asUID(ctx context.Context, bin, mode, sock string, uid uint32) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{childModeEnv + "=" + mode, childSockEnv + "=" + sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	return cmd
}

// startServerAs runs childServer as uid and waits until it listens. Its socket is in a
// world-writable directory (the child must be able to bind there): see moveSocket.
func startServerAs(t *testing.T, uid uint32) string {
	t.Helper()
	dir, bin := sharedDir(t)
	sock := filepath.Join(dir, "s.sock")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := asUID(ctx, bin, "server", sock, uid)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("child server: %v\n%s", err, stderr.String())
		}
		cancel()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("child server did not start: %q, %v\n%s", line, err, stderr.String())
	}
	return sock
}

// moveSocket renames the socket at sock into a fresh directory of mode 0755 owned by owner and
// returns its new path: the listener keeps serving it there, whoever runs it.
func moveSocket(t *testing.T, sock string, owner uint32) string {
	t.Helper()
	dir := filepath.Dir(sockPath(t))
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, int(owner), int(owner)); err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(dir, "s.sock")
	if err := os.Rename(sock, moved); err != nil {
		t.Fatal(err)
	}
	return moved
}

// sockPath is a socket path short enough for sun_path.
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wire")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

func listen(t *testing.T, path string) *net.UnixListener {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serve runs Serve on a fresh socket until the test ends and returns the socket's path.
func serve(t *testing.T, h Handler, o ServerOptions) string {
	t.Helper()
	path := sockPath(t)
	ln := listen(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

// exchange sends raw bytes (closing its write side when half is set) and returns the raw answer.
func exchange(t *testing.T, path string, payload []byte, half bool) []byte {
	t.Helper()
	conn, err := dialUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A safety net against a hung server, not a timing assertion.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(payload); err != nil {
		t.Fatalf("write request: %v", err)
	}
	if half {
		_ = conn.CloseWrite()
	}
	data, err := readResponse(conn)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return data
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dialUnix(path string) (*net.UnixConn, error) {
	return net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
}

// Query is Ask that also returns the raw answer, for tests that look at what the server sent:
// the error wraps ErrNoVerdict when nothing in the answer may be used.
func Query(ctx context.Context, path string, req Request, o ClientOptions) (Response, error) {
	resp, err := roundTrip(ctx, path, req, o)
	if err != nil {
		return resp, err
	}
	if _, err := resp.answers(req); errors.Is(err, ErrNoVerdict) {
		return resp, err
	}
	return resp, nil
}
