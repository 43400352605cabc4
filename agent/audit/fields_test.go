package audit

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestFormatLine(t *testing.T) {
	tests := []struct {
		name   string
		msg    string
		fields []zapcore.Field
		want   string
	}{
		{"message-only", "hello", nil, "hello"},
		{"plain-values-unquoted", "m", []zapcore.Field{zap.String("user", "ec2-user"), zap.Int("block", 3)}, "m user=ec2-user block=3"},
		{"field-order-kept", "m", []zapcore.Field{zap.String("z", "1"), zap.String("a", "2")}, "m z=1 a=2"},
		{"space-quoted", "m", []zapcore.Field{zap.String("detail", "two words")}, `m detail="two words"`},
		{"empty-quoted", "m", []zapcore.Field{zap.String("caller", "")}, `m caller=""`},
		{"quote-quoted", "m", []zapcore.Field{zap.String("k", `say "hi"`)}, `m k="say \"hi\""`},
		{"equals-quoted", "m", []zapcore.Field{zap.String("k", "a=b")}, `m k="a=b"`},
		{"newline-escaped", "m", []zapcore.Field{zap.String("k", "a\nb")}, `m k="a\nb"`},
		{"invalid-utf8-escaped", "m", []zapcore.Field{zap.String("k", "a\xffb")}, `m k="a\xffb"`},
		{"message-control-escaped", "forged\nline\x00", nil, `forged\nline\x00`},
		{"message-invalid-utf8-escaped", "bad\xfe", nil, `bad\xfe`},
		{"message-keeps-quotes-and-commas", `fingerprint: "x", request-id: y`, nil, `fingerprint: "x", request-id: y`},
		{"key-sanitized", "m", []zapcore.Field{zap.String("a b=c", "v")}, "m a_b_c=v"},
		{"error-field", "m", []zapcore.Field{zap.Error(errors.New("boom"))}, "m error=boom"},
		{"duration-field", "m", []zapcore.Field{zap.Duration("took", 1500*time.Millisecond)}, "m took=1.5s"},
		{"time-field-utc", "m", []zapcore.Field{zap.Time("at", time.Date(2024, 1, 2, 4, 4, 5, 0, time.FixedZone("X", 3600)))}, "m at=2024-01-02T03:04:05Z"},
		{"bool-field", "m", []zapcore.Field{zap.Bool("ok", true)}, "m ok=true"},
		{"strings-field-json", "m", []zapcore.Field{zap.Strings("d", []string{"a", "b"})}, `m d="[\"a\",\"b\"]"`},
		{"skip-field-dropped", "m", []zapcore.Field{zap.Skip(), zap.String("k", "v")}, "m k=v"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatLine(tc.msg, tc.fields); got != tc.want {
				t.Errorf("formatLine = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestJournalFieldName(t *testing.T) {
	tests := []struct{ name, key, want string }{
		{"lowercase-uppercased", "request_id", "REQUEST_ID"},
		{"already-valid", "USER", "USER"},
		{"punctuation-replaced", "key-type.v2", "KEY_TYPE_V2"},
		{"leading-underscore-dropped", "_PID", "PID"},
		{"leading-digit-prefixed", "9lives", "FIELD_9LIVES"},
		{"empty-named", "", "FIELD"},
		{"only-underscores-named", "___", "FIELD"},
		{"non-ascii-replaced", "größe", "GR__E"},
		{"message-not-overridden", "message", "FIELD_MESSAGE"},
		{"priority-not-overridden", "Priority", "FIELD_PRIORITY"},
		{"identifier-not-overridden", "syslog_identifier", "FIELD_SYSLOG_IDENTIFIER"},
		{"long-truncated", strings.Repeat("a", 70), strings.Repeat("A", 64)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := journalFieldName(tc.key)
			if got != tc.want {
				t.Errorf("journalFieldName(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestJournalEntry(t *testing.T) {
	ent := zapcore.Entry{Level: zapcore.WarnLevel, Message: "Rejected EC2 Instance Connect key for root: expired"}
	fields := []zapcore.Field{
		zap.String("user", "root"),
		zap.Int("block", 1),
		zap.String("request_id", "req\n1"),
		zap.String("message", "spoof"),
		zap.String("syslog_facility", "0"),
	}
	msg, pri, vars := journalEntry(ent, "ec2-instance-connect", fields)
	if msg != ent.Message {
		t.Errorf("message = %q, want %q", msg, ent.Message)
	}
	if pri != journal.PriWarning {
		t.Errorf("priority = %d, want %d (warning)", pri, journal.PriWarning)
	}
	want := map[string]string{
		"USER":                  "root",
		"BLOCK":                 "1",
		"REQUEST_ID":            "req\n1",
		"FIELD_MESSAGE":         "spoof",
		"FIELD_SYSLOG_FACILITY": "0",
		"SYSLOG_IDENTIFIER":     "ec2-instance-connect",
		"SYSLOG_FACILITY":       "10",
	}
	if diff := cmp.Diff(want, vars); diff != "" {
		t.Errorf("journal fields (-want +got):\n%s", diff)
	}
}

func TestJournalPriority(t *testing.T) {
	tests := []struct {
		level zapcore.Level
		want  journal.Priority
	}{
		{zapcore.DebugLevel, journal.PriDebug},
		{zapcore.InfoLevel, journal.PriInfo},
		{zapcore.WarnLevel, journal.PriWarning},
		{zapcore.ErrorLevel, journal.PriErr},
		{zapcore.DPanicLevel, journal.PriCrit},
		{zapcore.FatalLevel, journal.PriCrit},
	}
	for _, tc := range tests {
		t.Run(tc.level.String()+"-maps", func(t *testing.T) {
			if got := journalPriority(tc.level); got != tc.want {
				t.Errorf("journalPriority(%v) = %d, want %d", tc.level, got, tc.want)
			}
		})
	}
}
