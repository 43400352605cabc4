package doctor

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/wire"
)

// serveWire answers on a unix socket in a fresh directory with h, through wire.Serve (the
// service's own server), and returns the socket's path.
func serveWire(t *testing.T, dirMode os.FileMode, h wire.Handler) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wire.Serve(ctx, ln, h, wire.ServerOptions{}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return sock
}

func TestServiceCheck(t *testing.T) {
	needRoot(t) // the client trusts a server running as root or the service account
	decided := func(_ context.Context, req wire.Request) wire.Response {
		return wire.Response{V: wire.Version, Verdict: wire.VerdictDecided, User: req.User, Outcome: lookup.NoKeys}
	}
	failed := func(_ context.Context, req wire.Request) wire.Response {
		return wire.Response{V: wire.Version, Verdict: wire.VerdictFailed, User: req.User, Outcome: lookup.NoKeys,
			Error: "imds: cannot reach http://169.254.169.254: connection refused"}
	}
	now := time.Now().Truncate(time.Second) // the wire carries Unix seconds
	withStatus := func(verified, read time.Duration) wire.Handler {
		return func(ctx context.Context, req wire.Request) wire.Response {
			r := decided(ctx, req)
			r.Status = &wire.Status{SignerVerified: now.Add(-verified).Unix(), StaplesRead: now.Add(-read).Unix()}
			return r
		}
	}
	busy := func(_ context.Context, req wire.Request) wire.Response {
		return wire.Refusal(req.User, "busy")
	}
	tests := []struct {
		name           string
		socket         func(t *testing.T) string
		disabled       bool
		status         Status
		detail, remedy string
	}{
		{name: "answering-service-passes", status: OK,
			socket: func(t *testing.T) string { return serveWire(t, 0o755, decided) },
			detail: "for ec2-user in ", remedy: ""},
		{name: "answer-reported", status: OK,
			socket: func(t *testing.T) string { return serveWire(t, 0o755, decided) },
			detail: ": no-keys, 0 key(s) accepted"},
		{name: "no-signer-yet-said", status: OK,
			socket: func(t *testing.T) string { return serveWire(t, 0o755, decided) },
			detail: "it holds no verified signer yet"},
		{name: "fresh-signer-reported", status: OK,
			socket: func(t *testing.T) string { return serveWire(t, 0o755, withStatus(20*time.Minute, 30*time.Second)) },
			detail: "signer verified 20m0s ago, staples read 30s ago"},
		{name: "overdue-staple-read-warns", status: Warn,
			socket: func(t *testing.T) string { return serveWire(t, 0o755, withStatus(time.Hour, 5*time.Minute)) },
			detail: "staples read 5m0s ago, longer than service.revocation_check (1m0s)", remedy: "journalctl -u eic-agent"},
		{name: "not-running-warns", status: Warn,
			socket: func(t *testing.T) string { return filepath.Join(t.TempDir(), "agent.sock") },
			detail: "not running: nothing answers on", remedy: "systemctl enable --now eic-agent.socket"},
		{name: "stale-socket-warns", status: Warn,
			socket: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "agent.sock")
				ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
				if err != nil {
					t.Fatal(err)
				}
				ln.SetUnlinkOnClose(false)
				ln.Close() // the file stays, nobody listens: what a crashed service leaves
				return p
			},
			detail: "not running"},
		{name: "refusal-warns", status: Warn,
			socket: func(t *testing.T) string { return serveWire(t, 0o755, busy) },
			detail: "refused the request", remedy: "journalctl -u eic-agent"},
		{name: "failed-verification-fails", status: Fail,
			socket: func(t *testing.T) string { return serveWire(t, 0o755, failed) },
			detail: "verification failed: imds: cannot reach", remedy: "fix the checks above"},
		{name: "socket-in-writable-directory-refused", status: Warn,
			socket: func(t *testing.T) string { return serveWire(t, 0o777, decided) },
			detail: "writable by group or others", remedy: "journalctl -u eic-agent"},
		{name: "disabled-service-passes", disabled: true, status: OK, detail: "service.enabled = false",
			socket: func(t *testing.T) string { return "/nonexistent/agent.sock" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Service.Socket = tc.socket(t)
			cfg.Service.Enabled = !tc.disabled
			d := New(Options{Config: cfg, User: "ec2-user", Now: func() time.Time { return now }})
			wantCheck(t, d.Service(testContext(t)), tc.status, tc.detail, tc.remedy)
		})
	}
}

func TestLogsCheck(t *testing.T) {
	listen := func(t *testing.T, network string) string {
		p := filepath.Join(t.TempDir(), "sock")
		var err error
		if network == "unixgram" {
			var c *net.UnixConn
			c, err = net.ListenUnixgram(network, &net.UnixAddr{Name: p, Net: network})
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
		} else {
			var ln *net.UnixListener
			ln, err = net.ListenUnix(network, &net.UnixAddr{Name: p, Net: network})
			if err == nil {
				t.Cleanup(func() { ln.Close() })
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	none := func(t *testing.T) string { return filepath.Join(t.TempDir(), "absent") }
	tests := []struct {
		name            string
		target          string
		journal, syslog func(t *testing.T, network string) string
		network         string // the syslog socket's type
		status          Status
		detail, remedy  string
	}{
		{name: "auto-finds-journald", target: "auto", journal: listen, syslog: listen, network: "unixgram",
			status: OK, detail: "auto: journald (", remedy: ""},
		{name: "auto-falls-back-to-syslog", target: "auto", syslog: listen, network: "unixgram",
			status: OK, detail: "auto: syslog ("},
		{name: "auto-finds-stream-syslog", target: "auto", syslog: listen, network: "unix",
			status: OK, detail: "facility authpriv"},
		{name: "auto-with-nothing-warns", target: "auto", status: Warn,
			detail: "logs go to stderr: sshd discards the helper's stderr", remedy: "rsyslog"},
		{name: "journald-without-socket-fails", target: "journald", syslog: listen, network: "unixgram",
			status: Fail, detail: "does not answer", remedy: `log.target = "auto"`},
		{name: "syslog-without-socket-fails", target: "syslog", journal: listen, status: Fail, detail: "no syslog socket answers"},
		{name: "stderr-warns", target: "stderr", journal: listen, status: Warn, detail: "audit records are lost"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Log.Target = tc.target
			o := Options{Config: cfg, JournalSocket: none(t), SyslogSockets: []string{none(t)}}
			if tc.journal != nil {
				o.JournalSocket = tc.journal(t, "unixgram")
			}
			if tc.syslog != nil {
				o.SyslogSockets = []string{none(t), tc.syslog(t, tc.network)}
			}
			wantCheck(t, New(o).Logs(testContext(t)), tc.status, tc.detail, tc.remedy)
		})
	}
}
