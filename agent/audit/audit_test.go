package audit

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"go.uber.org/zap"
)

// syslogListener is a real unixgram socket standing in for /dev/log. The path
// is kept short: unix socket paths are limited to about 100 bytes.
func syslogListener(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "audit")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return path, conn
}

// readDatagram returns the next syslog message. The deadline only keeps a
// broken test from hanging; it is not a timing assertion.
func readDatagram(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read syslog datagram: %v", err)
	}
	return string(buf[:n])
}

func checkSyslog(t *testing.T, got, wantPri, wantTag, wantText string) {
	t.Helper()
	if !strings.HasPrefix(got, wantPri) {
		t.Errorf("datagram %q does not start with priority %s", got, wantPri)
	}
	wantSuffix := fmt.Sprintf(" %s[%d]: %s\n", wantTag, os.Getpid(), wantText)
	if !strings.HasSuffix(got, wantSuffix) {
		t.Errorf("datagram %q does not end with %q", got, wantSuffix)
	}
}

func TestSyslogTarget(t *testing.T) {
	path, conn := syslogListener(t)
	log, err := New(Config{Target: TargetSyslog, Level: "debug", SyslogAddr: path})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// authpriv is facility 10: priority = 10*8 + severity.
	tests := []struct {
		name    string
		logf    func(string, ...zap.Field)
		wantPri string
	}{
		{"debug-is-authpriv-debug", log.Debug, "<87>"},
		{"info-is-authpriv-info", log.Info, "<86>"},
		{"warn-is-authpriv-warning", log.Warn, "<84>"},
		{"error-is-authpriv-err", log.Error, "<83>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.logf("hello world", zap.String("user", "root"), zap.String("detail", "two words"))
			checkSyslog(t, readDatagram(t, conn), tc.wantPri, DefaultIdentifier, `hello world user=root detail="two words"`)
		})
	}
}

func TestSyslogTargetRecords(t *testing.T) {
	path, conn := syslogListener(t)
	log, err := New(Config{Target: TargetSyslog, SyslogAddr: path, Identifier: "eic-test"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	log.Debug("below the level: dropped")
	Accepted(log.With(zap.String("mode", "direct")), Grant{
		User: "ec2-user", Fingerprint: "SHA256:fp", RequestID: "req-1",
		Caller: "arn:aws:iam::123456789012:user/alice", InstanceID: "i-0123456789abcdef0",
		Expires: time.Unix(1732000000, 0), KeyType: "ssh-ed25519",
	})
	want := "Providing ssh key from EC2 Instance Connect with fingerprint: SHA256:fp, request-id: req-1, " +
		"for IAM principal: arn:aws:iam::123456789012:user/alice mode=direct user=ec2-user fingerprint=SHA256:fp " +
		"request_id=req-1 caller=arn:aws:iam::123456789012:user/alice instance_id=i-0123456789abcdef0 " +
		"expires=2024-11-19T07:06:40Z key_type=ssh-ed25519 event=accept"
	checkSyslog(t, readDatagram(t, conn), "<86>", "eic-test", want)
}

func TestStderrTarget(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(Config{Target: TargetStderr, Stderr: &buf, Level: "warn"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	log.Info("dropped below warn")
	log.Warn("rejected", zap.String("user", "root"), zap.Int("block", 0))
	log.With(zap.String("mode", "service")).Error("broken", zap.String("detail", "a b"))
	want := "WARN rejected user=root block=0\nERROR broken mode=service detail=\"a b\"\n"
	if got := buf.String(); got != want {
		t.Errorf("stderr output:\n got %q\nwant %q", got, want)
	}
}

func TestNothingOnStdout(t *testing.T) {
	path, conn := syslogListener(t)
	stdout, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = stdout
	t.Cleanup(func() { os.Stdout = saved })

	var stderr bytes.Buffer
	for _, cfg := range []Config{
		{Target: TargetStderr, Stderr: &stderr},
		{Target: TargetSyslog, SyslogAddr: path, Stderr: &stderr},
		{Target: TargetAuto, SyslogAddr: filepath.Join(t.TempDir(), "none"), Stderr: &stderr},
	} {
		log, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		Rejected(log, Denial{User: "root", Reason: "expired"})
		log.Error("an error")
	}
	readDatagram(t, conn)
	os.Stdout = saved
	st, err := stdout.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 0 {
		t.Errorf("stdout received %d bytes, want none", st.Size())
	}
}

func TestAutoTarget(t *testing.T) {
	if journal.Enabled() {
		t.Skip("journald is available here, so auto always picks it; the fallbacks cannot be observed")
	}
	t.Run("auto-falls-back-to-syslog", func(t *testing.T) {
		path, conn := syslogListener(t)
		var stderr bytes.Buffer
		log, err := New(Config{SyslogAddr: path, Stderr: &stderr})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		log.Info("via syslog")
		checkSyslog(t, readDatagram(t, conn), "<86>", DefaultIdentifier, "via syslog")
		if stderr.Len() != 0 {
			t.Errorf("stderr got %q, want nothing", stderr.String())
		}
	})
	t.Run("auto-falls-back-to-stderr", func(t *testing.T) {
		var stderr bytes.Buffer
		log, err := New(Config{Target: TargetAuto, SyslogAddr: filepath.Join(t.TempDir(), "none"), Stderr: &stderr})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		log.Info("via stderr")
		if got, want := stderr.String(), "INFO via stderr\n"; got != want {
			t.Errorf("stderr got %q, want %q", got, want)
		}
	})
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"unknown-level-refused", Config{Target: TargetStderr, Level: "trace"}, `log level "trace"`},
		{"unknown-target-refused", Config{Target: "file"}, `log target "file"`},
		{"syslog-unreachable-refused", Config{Target: TargetSyslog, SyslogAddr: "/nonexistent/eic/log"}, "log target syslog: dial /nonexistent/eic/log"},
	}
	if !journal.Enabled() {
		tests = append(tests, struct {
			name    string
			cfg     Config
			wantErr string
		}{"journald-unavailable-refused", Config{Target: TargetJournald}, "log target journald"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New(%+v) = %v, %v; want error containing %q", tc.cfg, log, err, tc.wantErr)
			}
		})
	}
}
