package audit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap/zapcore"
)

// kv is one zap field flattened to text.
type kv struct{ Key, Value string }

// flatten turns zap fields into ordered key/value text. Each field is encoded
// on its own so the output keeps the order the caller wrote; a field that
// expands to several keys (zap.Error's "errorVerbose") is sorted by key.
// Namespaces are not nested: their fields simply follow.
func flatten(fields []zapcore.Field) []kv {
	out := make([]kv, 0, len(fields))
	for _, f := range fields {
		if f.Type == zapcore.NamespaceType || f.Type == zapcore.SkipType {
			continue
		}
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		keys := make([]string, 0, len(enc.Fields))
		for k := range enc.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, kv{k, valueText(enc.Fields[k])})
		}
	}
	return out
}

func valueText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case time.Duration:
		return v.String()
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case fmt.Stringer:
		return v.String()
	case error:
		return v.Error()
	case map[string]any, []any:
		if b, err := json.Marshal(v); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}

// formatLine renders "message key=value ..." for syslog and stderr. Values are
// quoted when a reader could not otherwise tell where they end, and control
// characters never reach the log raw, so a claimed value cannot forge a line.
func formatLine(msg string, fields []zapcore.Field) string {
	var b strings.Builder
	b.WriteString(escapeControl(msg))
	for _, f := range flatten(fields) {
		b.WriteByte(' ')
		b.WriteString(lineKey(f.Key))
		b.WriteByte('=')
		b.WriteString(lineValue(f.Value))
	}
	return b.String()
}

func lineKey(k string) string {
	if k == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r == '=' || r == '"' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return '_'
		}
		return r
	}, k)
}

func lineValue(v string) string {
	if v == "" || !utf8.ValidString(v) || strings.ContainsAny(v, `"\=`) ||
		strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(v)
	}
	return v
}

// escapeControl writes control characters and invalid UTF-8 as Go escapes and
// leaves everything else, so upstream's message wording stays byte-exact.
func escapeControl(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
