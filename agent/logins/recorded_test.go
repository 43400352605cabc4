package logins

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The recording in testdata/nspawn comes from real sshd logins under a real journald (see its
// README): two EIC logins as ec2-user and one by an authorized_keys key as admin.

func recordedEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("testdata/nspawn/env")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

type brief struct{ User, From, Fingerprint, Principal, RequestID string }

func briefs(ls []Login) []brief {
	var out []brief
	for _, l := range ls {
		out = append(out, brief{l.User, l.From, l.Fingerprint, l.Principal, l.RequestID})
	}
	return out
}

func recordedWant(env map[string]string) []brief {
	return []brief{
		{"ec2-user", "127.0.0.1", env["FP_EIC"], "arn:aws:iam::123456789012:user/alice", env["REQ_EIC"]},
		{"admin", "127.0.0.1", env["FP_FILE"], "", ""},
		{"ec2-user", "127.0.0.1", env["FP_EIC2"], "arn:aws:sts::123456789012:assumed-role/Ops/bob@example.com", env["REQ_EIC2"]},
	}
}

func TestRecordedJournal(t *testing.T) {
	env := recordedEnv(t)
	tests := []struct {
		name        string
		trusted     []string
		want        []brief
		wantSkipped int
	}{
		{"service-account-records-attribute-logins", []string{"0", env["UID_SERVICE"]}, recordedWant(env), 0},
		{
			// Records written by an account not trusted (here: the service account, when it is
			// not configured) never attribute a login: the logins stay, with no principal.
			"untrusted-writer-records-ignored", []string{"0"},
			[]brief{
				{"ec2-user", "127.0.0.1", env["FP_EIC"], "", ""},
				{"admin", "127.0.0.1", env["FP_FILE"], "", ""},
				{"ec2-user", "127.0.0.1", env["FP_EIC2"], "", ""},
			}, 4,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open("testdata/nspawn/journal.json")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ev, err := ReadJournal(f, tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, briefs(Join(ev, Filter{}))); diff != "" {
				t.Errorf("logins (-want +got):\n%s", diff)
			}
			if ev.Skipped != tc.wantSkipped || ev.Truncated {
				t.Errorf("skipped %d, truncated %v; want %d, false", ev.Skipped, ev.Truncated, tc.wantSkipped)
			}
		})
	}
}

func TestRecordedSyslogFiles(t *testing.T) {
	env := recordedEnv(t)
	ref := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) // the file's mtime, for the year
	for _, file := range []string{"auth.log", "auth-iso.log"} {
		t.Run(file+"-attributes-logins", func(t *testing.T) {
			f, err := os.Open("testdata/nspawn/" + file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ev, err := ReadSyslog(f, ref, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			got := Join(ev, Filter{})
			if diff := cmp.Diff(recordedWant(env), briefs(got)); diff != "" {
				t.Errorf("logins (-want +got):\n%s", diff)
			}
			if ev.Skipped != 0 {
				t.Errorf("skipped %d lines, want 0", ev.Skipped)
			}
			if len(got) > 0 && !got[0].Time.Equal(time.Date(2026, 11, 30, 23, 9, 4, 0, time.UTC)) {
				t.Errorf("first login at %v, want 2026-11-30T23:09:04Z", got[0].Time)
			}
		})
	}
}

func TestRecordedTableIsWhatTheContainerPrinted(t *testing.T) {
	f, err := os.Open("testdata/nspawn/journal.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ev, err := ReadJournal(f, []string{"0", recordedEnv(t)["UID_SERVICE"]})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, Join(ev, Filter{})); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/nspawn/logins.txt")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("table (-container +here):\n%s", diff)
	}
}
