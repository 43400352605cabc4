package audit

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

func TestIsTerminal(t *testing.T) {
	_, tty := testkit.PTY(t)
	file, err := os.Create(filepath.Join(t.TempDir(), "file"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var nilFile *os.File
	tests := []struct {
		name string
		w    io.Writer
		want bool
	}{
		{"pseudo-terminal-is-a-terminal", tty, true},
		{"regular-file-is-not", file, false},
		{"pipe-is-not", w, false}, // what sshd and systemd give the helper and the service
		{"buffer-is-not", &bytes.Buffer{}, false},
		{"nil-file-is-not", nilFile, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsTerminal(tc.w); got != tc.want {
				t.Errorf("IsTerminal = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTerminalEcho(t *testing.T) {
	path, conn := syslogListener(t)
	tests := []struct {
		name       string
		cfg        Config
		wantStderr string
		wantSyslog bool
	}{
		{"terminal-gets-a-copy-of-syslog-records", Config{Target: TargetSyslog, SyslogAddr: path, Terminal: true},
			"ERROR config broken file=/x\n", true},
		{"no-terminal-no-copy", Config{Target: TargetSyslog, SyslogAddr: path}, "", true},
		{"stderr-target-written-once", Config{Target: TargetStderr, Terminal: true}, "ERROR config broken file=/x\n", false},
		{"auto-falling-back-to-stderr-written-once", Config{SyslogAddr: filepath.Join(t.TempDir(), "none"), Terminal: true},
			"ERROR config broken file=/x\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Target == "" && !tc.wantSyslog && journal.Enabled() {
				t.Skip("journald is available here, so auto picks it")
			}
			var stderr bytes.Buffer
			tc.cfg.Stderr = &stderr
			log, err := New(tc.cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			log.Error("config broken", zap.String("file", "/x"))
			if tc.wantSyslog {
				checkSyslog(t, readDatagram(t, conn), "<83>", DefaultIdentifier, "config broken file=/x")
			}
			if got := stderr.String(); got != tc.wantStderr {
				t.Errorf("stderr got %q, want %q", got, tc.wantStderr)
			}
		})
	}
}
