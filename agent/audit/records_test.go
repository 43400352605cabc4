package audit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func observe(t *testing.T) (*zap.Logger, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

type record struct {
	Level   zapcore.Level
	Message string
	Fields  map[string]any
}

func only(t *testing.T, logs *observer.ObservedLogs) record {
	t.Helper()
	all := logs.All()
	if len(all) != 1 {
		t.Fatalf("got %d log entries, want 1: %+v", len(all), all)
	}
	return record{all[0].Level, all[0].Message, all[0].ContextMap()}
}

func TestAccepted(t *testing.T) {
	log, logs := observe(t)
	Accepted(log, Grant{
		User:        "ec2-user",
		Fingerprint: "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
		RequestID:   "1b2c3d4e-0000-4000-8000-000000000001",
		Caller:      "arn:aws:iam::123456789012:user/alice",
		InstanceID:  "i-0123456789abcdef0",
		Expires:     time.Date(2024, 11, 19, 8, 26, 40, 0, time.FixedZone("CET", 3600)),
		KeyType:     "ssh-ed25519",
	})
	want := record{
		Level: zapcore.InfoLevel,
		Message: "Providing ssh key from EC2 Instance Connect with fingerprint: " +
			"SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG, request-id: " +
			"1b2c3d4e-0000-4000-8000-000000000001, for IAM principal: arn:aws:iam::123456789012:user/alice",
		Fields: map[string]any{
			"user":        "ec2-user",
			"fingerprint": "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
			"request_id":  "1b2c3d4e-0000-4000-8000-000000000001",
			"caller":      "arn:aws:iam::123456789012:user/alice",
			"instance_id": "i-0123456789abcdef0",
			"expires":     "2024-11-19T07:26:40Z",
			"key_type":    "ssh-ed25519",
			"event":       "accept",
		},
	}
	if diff := cmp.Diff(want, only(t, logs)); diff != "" {
		t.Errorf("accepted record (-want +got):\n%s", diff)
	}
}

func TestRejected(t *testing.T) {
	tests := []struct {
		name   string
		denial Denial
		want   record
	}{
		{
			name: "rejection-with-detail",
			denial: Denial{
				User: "ec2-user", Block: 2, Reason: "expired", Detail: "expired at 2024-11-19T07:26:40Z",
				Fingerprint: "SHA256:xyz", RequestID: "req-1", Caller: "arn:aws:iam::123456789012:user/mallory",
			},
			want: record{
				Level:   zapcore.WarnLevel,
				Message: "Rejected EC2 Instance Connect key for ec2-user: expired (expired at 2024-11-19T07:26:40Z)",
				Fields: map[string]any{
					"user": "ec2-user", "block": int64(3), "reason": "expired",
					"detail": "expired at 2024-11-19T07:26:40Z", "fingerprint": "SHA256:xyz",
					"request_id": "req-1", "caller": "arn:aws:iam::123456789012:user/mallory", "event": "reject",
				},
			},
		},
		{
			name:   "rejection-without-detail-has-no-parenthesis",
			denial: Denial{User: "root", Block: 0, Reason: "bad-signature"},
			want: record{
				Level:   zapcore.WarnLevel,
				Message: "Rejected EC2 Instance Connect key for root: bad-signature",
				Fields: map[string]any{
					"user": "root", "block": int64(1), "reason": "bad-signature", "detail": "",
					"fingerprint": "", "request_id": "", "caller": "", "event": "reject",
				},
			},
		},
		{
			name:   "routine-rejection-logged-at-info",
			denial: Denial{User: "root", Block: 1, Reason: "fingerprint-mismatch", Routine: true},
			want: record{
				Level:   zapcore.InfoLevel,
				Message: "Rejected EC2 Instance Connect key for root: fingerprint-mismatch",
				Fields: map[string]any{
					"user": "root", "block": int64(2), "reason": "fingerprint-mismatch", "detail": "",
					"fingerprint": "", "request_id": "", "caller": "", "event": "reject",
				},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := observe(t)
			Rejected(log, tc.denial)
			if diff := cmp.Diff(tc.want, only(t, logs)); diff != "" {
				t.Errorf("rejected record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecordsNilLogger(t *testing.T) {
	// A nil logger must not panic: callers that log nothing pass nil.
	Accepted(nil, Grant{})
	Rejected(nil, Denial{})
}

func TestRejectedMore(t *testing.T) {
	tests := []struct {
		name string
		u    Unlisted
		want record
	}{
		{
			name: "counts-per-reason-in-one-record",
			u:    Unlisted{User: "ec2-user", Counts: map[string]int{"malformed": 3, "bad-signature": 1012}},
			want: record{
				Level:   zapcore.WarnLevel,
				Message: "Rejected 1015 more EC2 Instance Connect keys for ec2-user: bad-signature=1012, malformed=3 (not itemised)",
				Fields: map[string]any{"user": "ec2-user", "count": int64(1015),
					"reasons": "bad-signature=1012, malformed=3", "event": "reject"},
			},
		},
		{
			name: "routine-only-logged-at-info",
			u:    Unlisted{User: "root", Counts: map[string]int{"fingerprint-mismatch": 2}, Routine: true},
			want: record{
				Level:   zapcore.InfoLevel,
				Message: "Rejected 2 more EC2 Instance Connect keys for root: fingerprint-mismatch=2 (not itemised)",
				Fields:  map[string]any{"user": "root", "count": int64(2), "reasons": "fingerprint-mismatch=2", "event": "reject"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := observe(t)
			RejectedMore(log, tc.u)
			if diff := cmp.Diff(tc.want, only(t, logs)); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("nothing-counted-no-record", func(t *testing.T) {
		log, logs := observe(t)
		RejectedMore(log, Unlisted{User: "root"})
		RejectedMore(nil, Unlisted{User: "root", Counts: map[string]int{"expired": 1}})
		if n := logs.Len(); n != 0 {
			t.Errorf("%d records; want none", n)
		}
	})
}
