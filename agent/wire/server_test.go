package wire

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

func TestQueryRoundTrip(t *testing.T) {
	k := testkit.Key(t, "")
	want := lookup.Result{Outcome: lookup.Verified, User: "alice", Accepted: []keys.Accepted{acceptedFor(k, 2)},
		Rejected: []keys.Rejected{{Block: 0, Reason: keys.ReasonExpired, Detail: "expired"}}}
	var got Request
	path := serve(t, func(_ context.Context, req Request) Response {
		got = req
		return FromResult(want, nil)
	}, ServerOptions{})
	req := Request{User: "alice", Fingerprint: ssh.FingerprintSHA256(k)}
	resp, err := Query(context.Background(), path, req, ClientOptions{})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if got != req {
		t.Errorf("handler saw %+v; want %+v", got, req)
	}
	res, err := resp.Result()
	if err != nil {
		t.Fatalf("Result: %v", err)
	}
	if diff := cmp.Diff(want, res, resultOpts); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}
}

func TestServerAnswersBadRequestsAndKeepsServing(t *testing.T) {
	var calls atomic.Int32
	path := serve(t, func(_ context.Context, req Request) Response {
		calls.Add(1)
		return FromResult(lookup.Result{Outcome: lookup.NoKeys, User: req.User}, nil)
	}, ServerOptions{})
	tests := []struct {
		name, payload, want string
		half                bool
	}{
		{name: "malformed-json", payload: "{\"v\":1,\n", want: "request"},
		{name: "unknown-field", payload: `{"v":2,"user":"alice","x":1}` + "\n", want: "unknown field"},
		{name: "wrong-version", payload: `{"v":7,"user":"alice"}` + "\n", want: "version 7"},
		{name: "oversize-request", payload: `{"v":2,"user":"` + strings.Repeat("a", 2*MaxRequest) + `"}` + "\n", want: "larger than 4096"},
		{name: "bad-user", payload: `{"v":2,"user":"a/b"}` + "\n", want: "not a valid EC2 Instance Connect OS user"},
		{name: "bad-fingerprint", payload: `{"v":2,"user":"alice","fingerprint":"SHA1:abc"}` + "\n", want: "fingerprint"},
		{name: "two-requests", payload: `{"v":2,"user":"alice"}` + "\n" + `{"v":2,"user":"bob"}` + "\n", want: "one request per connection"},
		{name: "unterminated", payload: `{"v":2,"user":"alice"}`, half: true, want: "newline-terminated"},
	}
	for _, tc := range tests {
		t.Run(tc.name+"-error-answer", func(t *testing.T) {
			resp, err := DecodeResponse(exchange(t, path, []byte(tc.payload), tc.half))
			if err != nil {
				t.Fatalf("DecodeResponse: %v", err)
			}
			if resp.Verdict != VerdictNone || !strings.Contains(resp.Error, tc.want) {
				t.Fatalf("answer: verdict %v error=%q; want none and an error containing %q", resp.Verdict, resp.Error, tc.want)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("handler called %d times for bad requests; want 0", n)
	}
	t.Run("still-serving", func(t *testing.T) {
		resp, err := Query(context.Background(), path, Request{User: "alice"}, ClientOptions{})
		if err != nil || resp.Outcome != lookup.NoKeys {
			t.Fatalf("Query after bad requests: (%+v, %v); want a no-keys answer", resp, err)
		}
	})
}

func TestHandlerPanicGetsErrorAnswer(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	var calls atomic.Int32
	path := serve(t, func(_ context.Context, req Request) Response {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return FromResult(lookup.Result{Outcome: lookup.NoKeys, User: req.User}, nil)
	}, ServerOptions{Log: zap.New(core)})
	resp, err := Query(context.Background(), path, Request{User: "alice"}, ClientOptions{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(resp.Error, "internal error") || resp.Verdict != VerdictNone {
		t.Fatalf("Query: (%+v, %v); want a refusal mentioning an internal error", resp, err)
	}
	if n := logs.FilterMessageSnippet("panicked").Len(); n != 1 {
		t.Errorf("%d panic log entries; want 1", n)
	}
	if _, err := Query(context.Background(), path, Request{User: "alice"}, ClientOptions{}); err != nil {
		t.Errorf("Query after a panic: %v; want an answer", err)
	}
}

func TestSilentClientIsClosed(t *testing.T) {
	path := serve(t, func(context.Context, Request) Response {
		t.Error("handler called without a request")
		return Response{}
	}, ServerOptions{Timeout: 50 * time.Millisecond})
	conn, err := dialUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // safety net only
	data, err := readResponse(conn)
	if err != nil || len(data) != 0 {
		t.Fatalf("read from a silent connection: (%q, %v); want the server to close it without an answer", data, err)
	}
}

func TestBusyAnswer(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	path := serve(t, func(_ context.Context, req Request) Response {
		entered <- struct{}{}
		<-release
		return FromResult(lookup.Result{Outcome: lookup.NoKeys, User: req.User}, nil)
	}, ServerOptions{MaxConcurrent: 1})
	first := make(chan error, 1)
	go func() {
		_, err := Query(context.Background(), path, Request{User: "alice"}, ClientOptions{})
		first <- err
	}()
	<-entered
	resp, err := Query(context.Background(), path, Request{User: "bob"}, ClientOptions{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(resp.Error, "busy") {
		t.Errorf("second Query: (%+v, %v); want a busy refusal", resp, err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first Query: %v; want an answer", err)
	}
}

func TestServeStops(t *testing.T) {
	t.Run("returns-on-cancel", func(t *testing.T) {
		ln := listen(t, sockPath(t))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, ln, nil, ServerOptions{}) }()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Serve: %v; want nil", err)
		}
	})
	t.Run("returns-on-listener-close", func(t *testing.T) {
		ln := listen(t, sockPath(t))
		done := make(chan error, 1)
		go func() { done <- Serve(context.Background(), ln, nil, ServerOptions{}) }()
		ln.Close()
		if err := <-done; err != nil {
			t.Fatalf("Serve: %v; want nil", err)
		}
	})
	t.Run("in-flight-request-answered-after-cancel", func(t *testing.T) {
		path := sockPath(t)
		ln := listen(t, path)
		entered, release := make(chan struct{}), make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Serve(ctx, ln, func(hctx context.Context, req Request) Response {
				close(entered)
				<-release
				if hctx.Err() != nil {
					return FromResult(lookup.Result{User: req.User}, hctx.Err())
				}
				return FromResult(lookup.Result{Outcome: lookup.NoKeys, User: req.User}, nil)
			}, ServerOptions{})
		}()
		answer := make(chan error, 1)
		go func() {
			resp, err := Query(context.Background(), path, Request{User: "alice"}, ClientOptions{})
			if err == nil && resp.Verdict == VerdictFailed {
				err = errors.New(resp.Error)
			}
			answer <- err
		}()
		<-entered
		cancel()
		close(release)
		if err := <-answer; err != nil {
			t.Errorf("in-flight Query: %v; want its answer", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v; want nil", err)
		}
	})
}

func TestResponseWithUnsafeKeyRefusedByQuery(t *testing.T) {
	k := testkit.Key(t, "")
	tests := []struct{ name, line string }{
		{"options", `command="/bin/sh -c id" ` + testkit.Line(k)},
		{"comment", testkit.Line(k) + " x"},
		{"extra-line", testkit.Line(k) + "\n" + testkit.Line(testkit.Key(t, ""))},
	}
	for _, tc := range tests {
		t.Run(tc.name+"-refused", func(t *testing.T) {
			path := serve(t, func(_ context.Context, req Request) Response {
				r := FromResult(lookup.Result{Outcome: lookup.Verified, User: req.User, Accepted: []keys.Accepted{acceptedFor(k, 0)}}, nil)
				r.Accepted[0].Line = tc.line
				return r
			}, ServerOptions{})
			if _, err := Query(context.Background(), path, Request{User: "alice"}, ClientOptions{}); !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("Query: %v; want ErrInvalidResponse", err)
			}
		})
	}
}

func TestPeerUIDChecks(t *testing.T) {
	needRoot(t)
	t.Run("disallowed-client-gets-no-answer", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		dir, bin := sharedDir(t)
		sock := dir + "/s.sock"
		ln := listen(t, sock)
		if err := os.Chmod(sock, 0o777); err != nil { // only SO_PEERCRED stands in the way
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Serve(ctx, ln, func(context.Context, Request) Response {
				t.Error("handler called for a disallowed peer")
				return Response{}
			}, ServerOptions{Log: zap.New(core)})
		}()
		defer func() { cancel(); <-done }()
		out, err := asNobody(ctx, bin, "client", sock).CombinedOutput()
		if err != nil || string(out) != "answer-bytes=0\n" {
			t.Fatalf("client as uid %d: %v, output %q; want answer-bytes=0", nobodyUID, err, out)
		}
		warned := logs.FilterMessageSnippet("refused a connection").FilterField(zap.Uint32("uid", nobodyUID)).Len()
		if warned != 1 {
			t.Errorf("%d warnings naming uid %d; want 1", warned, nobodyUID)
		}
	})
	t.Run("allowed-client-answered", func(t *testing.T) {
		dir, bin := sharedDir(t)
		sock := dir + "/s.sock"
		ln := listen(t, sock)
		if err := os.Chmod(sock, 0o777); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Serve(ctx, ln, func(_ context.Context, req Request) Response {
				return FromResult(lookup.Result{Outcome: lookup.NoKeys, User: req.User}, nil)
			}, ServerOptions{AllowedUIDs: []uint32{nobodyUID}})
		}()
		defer func() { cancel(); <-done }()
		out, err := asNobody(ctx, bin, "client", sock).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "answer-bytes=") || string(out) == "answer-bytes=0\n" {
			t.Fatalf("client as allowed uid %d: %v, output %q; want an answer", nobodyUID, err, out)
		}
	})
}
