package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv"
	"github.com/eic-agent/eic-agent/agent/wire"
)

const recorded = "../../agent/logins/testdata/nspawn/"

// TestLoginsCommand runs the binary on the logs recorded from real logins (see that README).
func TestLoginsCommand(t *testing.T) {
	abs, err := filepath.Abs(recorded)
	if err != nil {
		t.Fatal(err)
	}
	// The recording's auth.log has no year: the command takes it from the file's mtime.
	authlog := filepath.Join(t.TempDir(), "auth.log")
	b, err := os.ReadFile(filepath.Join(abs, "auth.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(authlog, b, 0o644); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(authlog, when, when); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte("[service]\nuser = \"root\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		wantOut    []string
		notOut     []string
		wantStderr string
	}{
		{"auth-log-table", []string{"--source", authlog}, 0,
			[]string{"ec2-user  127.0.0.1  arn:aws:iam::123456789012:user/alice", "admin     127.0.0.1  -"}, nil, ""},
		{"auth-log-user-filter", []string{"--source", authlog, "--user", "admin", "--json"}, 0,
			[]string{`"user": "admin"`, `"principal": ""`}, []string{"ec2-user"}, ""},
		{"auth-log-until-excludes", []string{"--source", authlog, "--until", "2026-11-30T23:09:00Z", "--json"}, 0,
			[]string{"[]"}, []string{"ec2-user"}, ""},
		// The saved journal's records were written by uid 997, which this config does not
		// trust: logins are listed, no principal, and the skipped records are reported.
		{"journal-json-untrusted-writer", []string{"--source", filepath.Join(abs, "journal.json"), "--config", cfg}, 0,
			[]string{"ec2-user  127.0.0.1  -"}, []string{"arn:aws"}, "4 sshd or eic-agent lines skipped"},
		{"bad-since", []string{"--since", "yesterday"}, exitUsage, nil, nil, "--since"},
		{"extra-argument", []string{"ec2-user"}, exitUsage, nil, nil, "unexpected argument"},
		{"directory-source", []string{"--source", abs}, exitFailed, nil, nil, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runIn(t, t.TempDir(), append([]string{binPath, "logins"}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, n := range tc.notOut {
				if strings.Contains(r.stdout, n) {
					t.Errorf("stdout has %q:\n%s", n, r.stdout)
				}
			}
			if !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.wantStderr)
			}
		})
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"@1700000000", time.Unix(1700000000, 0), true},
		{"2025-01-01T00:00:00Z", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"2h", now.Add(-2 * time.Hour), true},
		{"-30m", now.Add(-30 * time.Minute), true},
		{"2025-01-01", time.Date(2025, 1, 1, 0, 0, 0, 0, time.Local), true},
		{"yesterday", time.Time{}, false},
		{"@x", time.Time{}, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := parseWhen(tc.in, now)
			if (err == nil) != tc.ok || !got.Equal(tc.want) {
				t.Errorf("parseWhen(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

// TestLoginsTrustsOnlyWhatTheHelperTrusts: records written as service.user count only when that
// account passes the helper's own rule for the service; nobody (uid 65534, which any daemon may
// run as) never does, so a record it forged names no principal.
func TestLoginsTrustsOnlyWhatTheHelperTrusts(t *testing.T) {
	if got := trustedUIDs("nobody"); len(got) != 1 || got[0] != "0" {
		t.Errorf("trustedUIDs(nobody) = %v, want only root's", got)
	}
	if got := trustedUIDs("no-such-account-here"); len(got) != 1 || got[0] != "0" {
		t.Errorf("trustedUIDs(missing account) = %v, want only root's", got)
	}
	me := testenv.ServiceUser(t) // an account the service may run as
	uid, err := wire.ServiceUID(me)
	if err != nil {
		t.Fatal(err)
	}
	if got := trustedUIDs(me); len(got) != 2 || got[1] != strconv.FormatUint(uint64(uid), 10) {
		t.Errorf("trustedUIDs(%s) = %v, want root's and %d", me, got, uid)
	}
}
