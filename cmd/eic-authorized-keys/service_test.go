package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
	"github.com/eic-agent/eic-agent/agent/wire"
)

// serviceSocket is a fresh socket path, short enough for sun_path whatever the test's name.
func serviceSocket(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eak")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "agent.sock")
}

func listenUnix(t *testing.T, path string) *net.UnixListener {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// testService serves h with wire.Serve until the test ends and counts the requests it handled.
func testService(t *testing.T, h wire.Handler) (path string, requests *atomic.Int32) {
	t.Helper()
	path = serviceSocket(t)
	ln := listenUnix(t, path)
	requests = new(atomic.Int32)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- wire.Serve(ctx, ln, func(ctx context.Context, req wire.Request) wire.Response {
			requests.Add(1)
			return h(ctx, req)
		}, wire.ServerOptions{})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("wire.Serve: %v", err)
		}
	})
	return path, requests
}

// hungService accepts connections and never answers.
func hungService(t *testing.T) string {
	t.Helper()
	path := serviceSocket(t)
	ln := listenUnix(t, path)
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return path
}

func TestServicePath(t *testing.T) {
	served := newKey(t, "ed25519")
	const caller, requestID = "arn:aws:iam::123456789012:user/from-service", "req-from-service"
	cannedKey := func(_ context.Context, req wire.Request) wire.Response {
		return wire.FromResult(lookup.Result{Outcome: lookup.Verified, User: req.User, Accepted: []keys.Accepted{{
			Line: testkit.Line(served), Key: served, Fingerprint: ssh.FingerprintSHA256(served), Caller: caller,
			RequestID: requestID, InstanceID: "i-0123456789abcdef0", Expires: time.Now().Add(time.Minute),
		}}}, nil)
	}

	t.Run("service-answer-printed-and-audited", func(t *testing.T) {
		sock, requests := testService(t, cannedKey)
		f := newFixture(t, setup{socket: sock})
		out := f.run(t, "alice", ssh.FingerprintSHA256(served))
		if out.code != 0 || out.stdout != testkit.Line(served)+"\n" {
			t.Fatalf("exit %d, stdout %q; want 0 and %q\nstderr:\n%s", out.code, out.stdout, testkit.Line(served)+"\n", out.stderr)
		}
		mustContain(t, "log", out.stderr,
			"Providing ssh key from EC2 Instance Connect with fingerprint: "+ssh.FingerprintSHA256(served)+", request-id: "+requestID+", for IAM principal: "+caller,
			"user=alice", "path=service", "DEBUG EC2 Instance Connect lookup answered")
		if n, total := requests.Load(), f.emu.Total(); n != 1 || total != 0 {
			t.Errorf("%d service requests, %d IMDS requests; want 1 and 0", n, total)
		}
	})

	t.Run("service-failure-exits-1", func(t *testing.T) {
		sock, _ := testService(t, func(_ context.Context, req wire.Request) wire.Response {
			return wire.FromResult(lookup.Result{User: req.User}, errors.New("imds: 500 Internal Server Error"))
		})
		f := newFixture(t, setup{socket: sock})
		f.push(t, "alice", newKey(t, "ed25519"))
		out := f.run(t, "alice")
		if out.code != 1 || out.stdout != "" {
			t.Fatalf("exit %d, stdout %q; want 1 and nothing\nstderr:\n%s", out.code, out.stdout, out.stderr)
		}
		mustContain(t, "log", out.stderr, "lookup failed", "imds: 500", "path=service")
		if n := f.emu.Total(); n != 0 {
			t.Errorf("%d IMDS requests after the service's verdict; want 0 (no fallback)", n)
		}
	})

	fallbacks := []struct {
		name   string
		socket func(t *testing.T) string
		want   string
	}{
		{name: "socket-missing-falls-back", socket: func(t *testing.T) string { return serviceSocket(t) }, want: "no such file"},
		{name: "hung-service-falls-back", socket: hungService, want: "timeout"},
		{name: "refusing-service-falls-back", socket: func(t *testing.T) string {
			sock, _ := testService(t, func(context.Context, wire.Request) wire.Response { panic("service bug") })
			return sock
		}, want: "internal error"},
		{name: "unsafe-answer-falls-back", socket: func(t *testing.T) string {
			sock, _ := testService(t, func(ctx context.Context, req wire.Request) wire.Response {
				r := cannedKey(ctx, req)
				r.Accepted[0].Line = `command="/bin/sh" ` + r.Accepted[0].Line
				return r
			})
			return sock
		}, want: "options"},
	}
	for _, tc := range fallbacks {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{socket: tc.socket(t)})
			key := newKey(t, "ed25519")
			f.push(t, "alice", key)
			out := f.run(t, "alice")
			if out.code != 0 || out.stdout != testkit.Line(key)+"\n" {
				t.Fatalf("exit %d, stdout %q; want 0 and the directly verified key\nstderr:\n%s", out.code, out.stdout, out.stderr)
			}
			mustContain(t, "log", out.stderr, "DEBUG eic-agent service unavailable; verifying directly", tc.want, "path=direct")
			if strings.Contains(out.stderr, testkit.Line(served)) || strings.Contains(out.stdout, testkit.Line(served)) {
				t.Errorf("the service's key leaked into a fallback run:\nstdout %q\nstderr:\n%s", out.stdout, out.stderr)
			}
		})
	}

	t.Run("service-disabled-never-connects", func(t *testing.T) {
		sock := serviceSocket(t)
		ln := listenUnix(t, sock)
		f := newFixture(t, setup{socket: sock, serviceOff: true})
		key := newKey(t, "ed25519")
		f.push(t, "alice", key)
		out := f.run(t, "alice")
		if out.code != 0 || out.stdout != testkit.Line(key)+"\n" {
			t.Fatalf("exit %d, stdout %q; want 0 and the key\nstderr:\n%s", out.code, out.stdout, out.stderr)
		}
		// A connection, had the helper made one, would wait in the backlog.
		_ = ln.SetDeadline(time.Now())
		if c, err := ln.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("Accept: %v; want a deadline error (the helper never connected)", err)
		}
		mustContain(t, "log", out.stderr, "path=direct")
		if strings.Contains(out.stderr, "service unavailable") {
			t.Errorf("a disabled service was tried:\n%s", out.stderr)
		}
	})
}
