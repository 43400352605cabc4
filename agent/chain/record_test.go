package chain_test

import (
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eic-agent/eic-agent/agent/chain"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// TestRecordLevels: a clean run stays out of the way at debug; what an operator should look at
// is at warn or error; a command's ordinary "no keys" exit is at info.
func TestRecordLevels(t *testing.T) {
	f, _, _ := keys.ParseForeignLine(testkit.Line(testkit.Key(t, "ed25519")))
	withKey := chain.Result{Command: "/usr/bin/x", Keys: []keys.Foreign{f}}
	fail := func(r chain.Reason) error {
		return &chain.Error{Command: "/usr/bin/x", Reason: r, Err: errors.New("x")}
	}
	tests := []struct {
		name        string
		res         chain.Result
		err         error
		wantLevel   zapcore.Level
		wantOutcome string
	}{
		{"clean-run-debug", withKey, nil, zapcore.DebugLevel, "ok"},
		{"refused-lines-warn", chain.Result{Command: "/usr/bin/x", Refused: 2, FirstRefusal: "line 1: junk"}, nil, zapcore.WarnLevel, "ok"},
		{"discarded-output-warn", chain.Result{Command: "/usr/bin/x", Discarded: 10}, nil, zapcore.WarnLevel, "ok"},
		{"non-zero-exit-info", chain.Result{Command: "/usr/bin/x"}, fail(chain.ReasonExitStatus), zapcore.InfoLevel, "exit-status"},
		{"timeout-warn", chain.Result{Command: "/usr/bin/x"}, fail(chain.ReasonTimeout), zapcore.WarnLevel, "timeout"},
		{"unsafe-path-error", chain.Result{Command: "/usr/bin/x"}, fail(chain.ReasonUnsafePath), zapcore.ErrorLevel, "unsafe-path"},
		{"missing-argument-error", chain.Result{Command: "/usr/bin/x"}, fail(chain.ReasonMissingArgument), zapcore.ErrorLevel, "missing-argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			tc.res.Record(zap.New(core), "alice", tc.err)
			entries := logs.FilterField(zap.String("event", "chain")).All()
			if len(entries) != 1 {
				t.Fatalf("%d chain records; want 1: %v", len(entries), logs.All())
			}
			e := entries[0]
			if e.Level != tc.wantLevel || e.ContextMap()["outcome"] != tc.wantOutcome || e.ContextMap()["user"] != "alice" || e.ContextMap()["command"] != "/usr/bin/x" {
				t.Errorf("record %s %q %v; want level %s, outcome %s, user alice, command /usr/bin/x", e.Level, e.Message, e.ContextMap(), tc.wantLevel, tc.wantOutcome)
			}
			if n := logs.FilterField(zap.String("event", "chain-key")).Len(); n != len(tc.res.Keys) {
				t.Errorf("%d chain-key records; want one per key (%d)", n, len(tc.res.Keys))
			}
		})
	}
}
