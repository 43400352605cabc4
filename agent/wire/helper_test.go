package wire

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
)

func TestLookupPaths(t *testing.T) {
	k := newKey(t)
	serviceKey := func(_ context.Context, req Request) Response {
		return FromResult(lookup.Result{Outcome: lookup.Verified, User: req.User, Accepted: []keys.Accepted{acceptedFor(k, 0)}}, nil)
	}
	directKey := newKey(t)
	direct := func(called *bool) Direct {
		return func(_ context.Context, log *zap.Logger) (lookup.Result, error) {
			*called = true
			res := lookup.Result{Outcome: lookup.Verified, User: "alice", Accepted: []keys.Accepted{acceptedFor(directKey, 0)}}
			lookup.Record(log, res, nil)
			return res, nil
		}
	}
	hung := func(t *testing.T) string {
		path := sockPath(t)
		ln := listen(t, path)
		go func() {
			var held []net.Conn // accepted and never answered
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
	tests := []struct {
		name       string
		q          func(t *testing.T) QueryConfig
		wantPath   Path
		wantErr    string
		wantLines  string
		wantLog    []string
		wantDirect bool
	}{
		{
			name: "service-verdict-used",
			q: func(t *testing.T) QueryConfig {
				return QueryConfig{Enabled: true, Socket: serve(t, serviceKey, ServerOptions{})}
			},
			wantPath:  PathService,
			wantLines: canonical(k) + "\n",
			wantLog:   []string{"Providing ssh key from EC2 Instance Connect", "lookup answered"},
		},
		{
			name: "service-failure-is-final",
			q: func(t *testing.T) QueryConfig {
				return QueryConfig{Enabled: true, Socket: serve(t, func(_ context.Context, req Request) Response {
					return FromResult(lookup.Result{User: req.User}, errors.New("imds: 500 Internal Server Error"))
				}, ServerOptions{})}
			},
			wantPath: PathService,
			wantErr:  "imds: 500",
		},
		{
			name:       "missing-socket-falls-back",
			q:          func(t *testing.T) QueryConfig { return QueryConfig{Enabled: true, Socket: sockPath(t)} },
			wantPath:   PathDirect,
			wantLines:  canonical(directKey) + "\n",
			wantDirect: true,
			wantLog:    []string{"eic-agent service unavailable; verifying directly", "Providing ssh key from EC2 Instance Connect"},
		},
		{
			name: "refusal-falls-back",
			q: func(t *testing.T) QueryConfig {
				return QueryConfig{Enabled: true, Socket: serve(t, func(context.Context, Request) Response { panic("bug") }, ServerOptions{})}
			},
			wantPath:   PathDirect,
			wantLines:  canonical(directKey) + "\n",
			wantDirect: true,
			wantLog:    []string{"internal error"},
		},
		{
			name: "unsafe-answer-falls-back",
			q: func(t *testing.T) QueryConfig {
				return QueryConfig{Enabled: true, Socket: serve(t, func(ctx context.Context, req Request) Response {
					r := serviceKey(ctx, req)
					r.Accepted[0].Line = `command="id" ` + r.Accepted[0].Line
					return r
				}, ServerOptions{})}
			},
			wantPath:   PathDirect,
			wantLines:  canonical(directKey) + "\n",
			wantDirect: true,
			wantLog:    []string{"options"},
		},
		{
			name: "hung-service-falls-back",
			q: func(t *testing.T) QueryConfig {
				return QueryConfig{Enabled: true, Socket: hung(t), Timeout: 50 * time.Millisecond}
			},
			wantPath:   PathDirect,
			wantLines:  canonical(directKey) + "\n",
			wantDirect: true,
			wantLog:    []string{"i/o timeout"},
		},
		{
			name:       "disabled-goes-direct",
			q:          func(t *testing.T) QueryConfig { return QueryConfig{Socket: serve(t, serviceKey, ServerOptions{})} },
			wantPath:   PathDirect,
			wantLines:  canonical(directKey) + "\n",
			wantDirect: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			called := false
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			q := tc.q(t)
			q.User = "root"
			res, path, err := Lookup(ctx, q, Request{User: "alice"}, direct(&called), zap.New(core))
			if path != tc.wantPath || called != tc.wantDirect {
				t.Errorf("path %q, direct called %v; want %q, %v", path, called, tc.wantPath, tc.wantDirect)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v; want %q", err, tc.wantErr)
			}
			if res.Lines() != tc.wantLines {
				t.Errorf("Lines %q; want %q", res.Lines(), tc.wantLines)
			}
			var all strings.Builder
			for _, e := range logs.All() {
				all.WriteString(e.Message)
				for _, f := range e.Context {
					all.WriteString(" " + f.Key + "=" + f.String)
					if f.Interface != nil {
						if e, ok := f.Interface.(error); ok {
							all.WriteString(e.Error())
						}
					}
				}
				all.WriteString("\n")
			}
			for _, w := range append(tc.wantLog, "path="+string(tc.wantPath)) {
				if !strings.Contains(all.String(), w) {
					t.Errorf("log does not contain %q; got:\n%s", w, all.String())
				}
			}
			// Every audit record says which path produced it.
			for _, e := range logs.FilterMessageSnippet("Providing ssh key").All() {
				if e.ContextMap()["path"] != string(tc.wantPath) {
					t.Errorf("audit record %q has path %v; want %q", e.Message, e.ContextMap()["path"], tc.wantPath)
				}
			}
		})
	}
}

func TestLookupDisabledNeverConnects(t *testing.T) {
	path := sockPath(t)
	ln := listen(t, path)
	_, _, err := Lookup(context.Background(), QueryConfig{Socket: path}, Request{User: "alice"},
		func(context.Context, *zap.Logger) (lookup.Result, error) { return lookup.Result{User: "alice"}, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A connection, had one been made, would wait in the backlog: an immediate deadline tells.
	_ = ln.SetDeadline(time.Now())
	if c, err := ln.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Accept after a disabled lookup: %v; want a deadline error (no connection)", err)
	}
}

func TestServiceBudget(t *testing.T) {
	if got := serviceBudget(context.Background()); got != DefaultTimeout {
		t.Errorf("no deadline: budget %v; want %v", got, DefaultTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if got := serviceBudget(ctx); got != DefaultTimeout {
		t.Errorf("far deadline: budget %v; want the %v cap", got, DefaultTimeout)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if got := serviceBudget(ctx); got > 2*time.Second || got < time.Second {
		t.Errorf("4s deadline: budget %v; want about half of it", got)
	}
}
