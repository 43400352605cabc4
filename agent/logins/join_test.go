package logins

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func accepted(at time.Duration, user, fp string) Accepted {
	return Accepted{Time: t0.Add(at), Host: "h", User: user, Addr: netip.MustParseAddr("10.0.0.5"), Port: 1, KeyType: "ED25519", Fingerprint: fp}
}

func grant(at time.Duration, user, fp, req string) Grant {
	return Grant{Time: t0.Add(at), Host: "h", User: user, Fingerprint: fp, RequestID: req, Caller: arn}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		name   string
		ev     Events
		wantRe string // the request id the login gets, "" for none
	}{
		{"record-just-before", Events{Accepted: []Accepted{accepted(0, "u", fpA)}, Grants: []Grant{grant(-time.Second, "u", fpA, "r1")}}, "r1"},
		{"latest-record-before-wins", Events{Accepted: []Accepted{accepted(0, "u", fpA)},
			Grants: []Grant{grant(-30*time.Second, "u", fpA, "old"), grant(-time.Second, "u", fpA, "new"), grant(time.Second, "u", fpA, "after")}}, "new"},
		{"record-slightly-after-accepted", Events{Accepted: []Accepted{accepted(0, "u", fpA)}, Grants: []Grant{grant(GrantSkew, "u", fpA, "r1")}}, "r1"},
		{"record-too-late-ignored", Events{Accepted: []Accepted{accepted(0, "u", fpA)}, Grants: []Grant{grant(GrantSkew+time.Second, "u", fpA, "r1")}}, ""},
		{"record-too-old-ignored", Events{Accepted: []Accepted{accepted(0, "u", fpA)}, Grants: []Grant{grant(-GrantWindow-time.Second, "u", fpA, "r1")}}, ""},
		{"upstream-record-without-user-matches", Events{Accepted: []Accepted{accepted(0, "u", fpA)}, Grants: []Grant{grant(-time.Second, "", fpA, "r1")}}, "r1"},
		// The attacker's tries: a record for the same key but another user, another host or
		// another key must not lend its principal.
		{"other-user-ignored", Events{Accepted: []Accepted{accepted(0, "root", fpA)}, Grants: []Grant{grant(-time.Second, "u", fpA, "r1")}}, ""},
		{"other-key-ignored", Events{Accepted: []Accepted{accepted(0, "u", fpB)}, Grants: []Grant{grant(-time.Second, "u", fpA, "r1")}}, ""},
		{"other-host-ignored", Events{Accepted: []Accepted{accepted(0, "u", fpA)}, Grants: []Grant{func() Grant {
			g := grant(-time.Second, "u", fpA, "r1")
			g.Host = "other"
			return g
		}()}}, ""},
		{"certificate-login-never-attributed", Events{Accepted: []Accepted{func() Accepted {
			a := accepted(0, "u", fpA)
			a.Cert, a.KeyType = true, "ED25519-CERT"
			return a
		}()}, Grants: []Grant{grant(-time.Second, "u", fpA, "r1")}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Join(tc.ev, Filter{})
			if len(got) != 1 {
				t.Fatalf("Join = %d logins, want 1", len(got))
			}
			if got[0].RequestID != tc.wantRe || (tc.wantRe == "") != (got[0].Principal == "") {
				t.Errorf("login request id %q principal %q, want request id %q", got[0].RequestID, got[0].Principal, tc.wantRe)
			}
		})
	}
}

func TestJoinFilter(t *testing.T) {
	ev := Events{Accepted: []Accepted{accepted(2*time.Hour, "b", fpB), accepted(0, "a", fpA), accepted(time.Hour, "b", fpA)}}
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all-in-time-order", Filter{}, []string{"a", "b", "b"}},
		{"since-inclusive", Filter{Since: t0.Add(time.Hour)}, []string{"b", "b"}},
		{"until-inclusive", Filter{Until: t0.Add(time.Hour)}, []string{"a", "b"}},
		{"user", Filter{User: "a"}, []string{"a"}},
		{"user-and-range-empty", Filter{User: "a", Since: t0.Add(time.Minute)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, l := range Join(ev, tc.f) {
				got = append(got, l.User)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("users (-want +got):\n%s", diff)
			}
		})
	}
}

// journalLine is one journalctl -o json line.
func journalLine(fields map[string]any) string {
	b, _ := json.Marshal(fields)
	return string(b)
}

func TestReadJournalTrust(t *testing.T) {
	usec := func(d time.Duration) string { return fmt.Sprint(t0.Add(d).UnixMicro()) }
	sshd := func(uid string) string {
		return journalLine(map[string]any{"__REALTIME_TIMESTAMP": usec(0), "_HOSTNAME": "h", "_UID": uid, "SYSLOG_IDENTIFIER": "sshd",
			"MESSAGE": "Accepted publickey for u from 10.0.0.5 port 1 ssh2: ED25519 " + fpA})
	}
	record := func(uid string, extra map[string]any) string {
		f := map[string]any{"__REALTIME_TIMESTAMP": usec(-time.Second), "_HOSTNAME": "h", "_UID": uid, "SYSLOG_IDENTIFIER": "ec2-instance-connect",
			"MESSAGE": "Providing ssh key from EC2 Instance Connect with fingerprint: " + fpA + ", request-id: " + reqA + ", for IAM principal: " + arn,
			"EVENT":   "accept", "USER": "u", "FINGERPRINT": fpA, "REQUEST_ID": reqA, "CALLER": arn}
		for k, v := range extra {
			f[k] = v
		}
		return journalLine(f)
	}
	tests := []struct {
		name         string
		lines        []string
		wantLogins   int
		wantReq      string
		wantSkipped  int
		wantTruncate bool
	}{
		{"trusted-record-attributes", []string{record("997", nil), sshd("0")}, 1, reqA, 0, false},
		// logger -t sshd / logger -t ec2-instance-connect by a local user: journald records
		// the user's uid, and neither line counts.
		{"forged-sshd-line-skipped", []string{sshd("1000")}, 0, "", 1, false},
		{"forged-record-skipped", []string{record("1000", nil), sshd("0")}, 1, "", 1, false},
		{"record-fields-disagree-skipped", []string{record("997", map[string]any{"CALLER": "arn:aws:iam::1:user/mallory"}), sshd("0")}, 1, "", 1, false},
		{"binary-message-skipped", []string{record("997", map[string]any{"MESSAGE": []int{80, 114}}), sshd("0")}, 1, "", 1, false},
		{"reject-record-ignored", []string{record("997", map[string]any{"EVENT": "reject", "MESSAGE": "Rejected EC2 Instance Connect key for u: expired"}), sshd("0")}, 1, "", 0, false},
		{"not-json-skipped", []string{"{oops", sshd("0")}, 1, "", 1, false},
		{"too-long-line-skipped", []string{`{"MESSAGE":"` + strings.Repeat("a", MaxLineBytes) + `"}`, sshd("0")}, 1, "", 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ReadJournal(strings.NewReader(strings.Join(tc.lines, "\n")+"\n"), []string{"0", "997"})
			if err != nil {
				t.Fatal(err)
			}
			got := Join(ev, Filter{})
			if len(got) != tc.wantLogins || ev.Skipped != tc.wantSkipped || ev.Truncated != tc.wantTruncate {
				t.Fatalf("logins %d, skipped %d, truncated %v; want %d, %d, %v", len(got), ev.Skipped, ev.Truncated, tc.wantLogins, tc.wantSkipped, tc.wantTruncate)
			}
			if len(got) == 1 && got[0].RequestID != tc.wantReq {
				t.Errorf("request id %q, want %q", got[0].RequestID, tc.wantReq)
			}
		})
	}
}

func TestJournalArgs(t *testing.T) {
	got := JournalArgs(t0, t0.Add(time.Hour))
	want := []string{"-o", "json", "--no-pager", "--quiet",
		"--output-fields=MESSAGE,SYSLOG_IDENTIFIER,_UID,_HOSTNAME,EVENT,USER,FINGERPRINT,REQUEST_ID,CALLER",
		fmt.Sprintf("--since=@%d", t0.Add(-GrantWindow).Unix()), fmt.Sprintf("--until=@%d", t0.Add(time.Hour+GrantSkew).Unix()+1),
		"SYSLOG_IDENTIFIER=sshd", "SYSLOG_IDENTIFIER=sshd-session", "SYSLOG_IDENTIFIER=ec2-instance-connect"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JournalArgs (-want +got):\n%s", diff)
	}
}
