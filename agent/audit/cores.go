package audit

import (
	"log/syslog"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
	"go.uber.org/zap/zapcore"
)

// facilityAuthpriv is LOG_AUTHPRIV's facility number (10), as journald's
// SYSLOG_FACILITY wants it: auth logs stay where upstream's went.
const facilityAuthpriv = 10

// sinkCore is a zapcore.Core that hands each entry with all its fields to
// write. The journald, syslog and stderr targets differ only in write.
type sinkCore struct {
	zapcore.LevelEnabler
	fields []zapcore.Field
	write  func(ent zapcore.Entry, fields []zapcore.Field) error
}

func (c *sinkCore) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.fields = append(append([]zapcore.Field(nil), c.fields...), fields...)
	return &clone
}

func (c *sinkCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *sinkCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	all := fields
	if len(c.fields) > 0 {
		all = append(append([]zapcore.Field(nil), c.fields...), fields...)
	}
	return c.write(ent, all)
}

func (c *sinkCore) Sync() error { return nil }

func newJournalCore(level zapcore.LevelEnabler, identifier string) zapcore.Core {
	return &sinkCore{LevelEnabler: level, write: func(ent zapcore.Entry, fields []zapcore.Field) error {
		msg, pri, vars := journalEntry(ent, identifier, fields)
		return journal.Send(msg, pri, vars)
	}}
}

func newSyslogCore(level zapcore.LevelEnabler, w *syslog.Writer) zapcore.Core {
	return &sinkCore{LevelEnabler: level, write: func(ent zapcore.Entry, fields []zapcore.Field) error {
		line := formatLine(ent.Message, fields)
		switch {
		case ent.Level <= zapcore.DebugLevel:
			return w.Debug(line)
		case ent.Level == zapcore.InfoLevel:
			return w.Info(line)
		case ent.Level == zapcore.WarnLevel:
			return w.Warning(line)
		case ent.Level == zapcore.ErrorLevel:
			return w.Err(line)
		}
		return w.Crit(line)
	}}
}

func newStderrCore(level zapcore.LevelEnabler, out zapcore.WriteSyncer) zapcore.Core {
	var mu sync.Mutex
	return &sinkCore{LevelEnabler: level, write: func(ent zapcore.Entry, fields []zapcore.Field) error {
		line := ent.Level.CapitalString() + " " + formatLine(ent.Message, fields) + "\n"
		mu.Lock()
		defer mu.Unlock()
		_, err := out.Write([]byte(line))
		return err
	}}
}

// journalEntry converts one zap entry into journald's message, priority and
// extra fields: SYSLOG_IDENTIFIER, SYSLOG_FACILITY and one field per zap field
// under its sanitized name. It is pure so tests can check it without journald.
func journalEntry(ent zapcore.Entry, identifier string, fields []zapcore.Field) (string, journal.Priority, map[string]string) {
	vars := make(map[string]string, len(fields)+2)
	for _, f := range flatten(fields) {
		vars[journalFieldName(f.Key)] = f.Value
	}
	// Set last so a field cannot override them.
	vars["SYSLOG_IDENTIFIER"] = identifier
	vars["SYSLOG_FACILITY"] = strconv.Itoa(facilityAuthpriv)
	return ent.Message, journalPriority(ent.Level), vars
}

func journalPriority(l zapcore.Level) journal.Priority {
	switch {
	case l <= zapcore.DebugLevel:
		return journal.PriDebug
	case l == zapcore.InfoLevel:
		return journal.PriInfo
	case l == zapcore.WarnLevel:
		return journal.PriWarning
	case l == zapcore.ErrorLevel:
		return journal.PriErr
	}
	return journal.PriCrit
}

// journalReserved reports the names journalEntry or journal.Send set
// themselves.
func journalReserved(name string) bool {
	switch name {
	case "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY":
		return true
	}
	return false
}

// journalFieldName maps a zap key to a name journald accepts: [A-Z0-9_],
// not starting with '_' (reserved for trusted fields) or a digit, at most 64
// characters, and not one of the fields we set ourselves (those get a FIELD_
// prefix). journald ignores fields with invalid names and go-systemd complains
// about them on stderr, so sanitize rather than trust callers.
func journalFieldName(key string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, key)
	name = strings.TrimLeft(name, "_")
	switch {
	case name == "":
		name = "FIELD"
	case name[0] >= '0' && name[0] <= '9', journalReserved(name):
		name = "FIELD_" + name
	}
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}
