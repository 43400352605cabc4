package logins

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	fpA   = "SHA256:KPi8SzQluSKECc8ZyqIvziDKK8eNxO5PZ+d7JyT0dQY"
	fpB   = "SHA256:lUTq65XmvIeCbwLUVLqVcFxJauHIjQqGU79hTOdYtAY"
	md5FP = "MD5:0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0"
	arn   = "arn:aws:iam::123456789012:user/alice"
	reqA  = "6ed864dc-8551-4584-9587-f793b50a97d8"
)

func TestParseAccepted(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		want    Accepted
		wantErr bool
	}{
		{"ipv4-ed25519", "Accepted publickey for ec2-user from 10.0.0.5 port 52518 ssh2: ED25519 " + fpA,
			Accepted{User: "ec2-user", Addr: netip.MustParseAddr("10.0.0.5"), Port: 52518, KeyType: "ED25519", Fingerprint: fpA}, false},
		{"ipv6-rsa", "Accepted publickey for root from 2001:db8::1 port 22 ssh2: RSA " + fpB,
			Accepted{User: "root", Addr: netip.MustParseAddr("2001:db8::1"), Port: 22, KeyType: "RSA", Fingerprint: fpB}, false},
		{"md5-fingerprint", "Accepted publickey for a from 10.0.0.5 port 1 ssh2: ECDSA " + md5FP,
			Accepted{User: "a", Addr: netip.MustParseAddr("10.0.0.5"), Port: 1, KeyType: "ECDSA", Fingerprint: md5FP}, false},
		{"certificate", "Accepted publickey for a from 10.0.0.5 port 1 ssh2: ED25519-CERT " + fpA + " ID alice key (serial 7) CA ED25519 " + fpB,
			Accepted{User: "a", Addr: netip.MustParseAddr("10.0.0.5"), Port: 1, KeyType: "ED25519-CERT", Fingerprint: fpA, Cert: true}, false},
		{"security-key", "Accepted publickey for a from 10.0.0.5 port 1 ssh2: ED25519-SK " + fpA,
			Accepted{User: "a", Addr: netip.MustParseAddr("10.0.0.5"), Port: 1, KeyType: "ED25519-SK", Fingerprint: fpA}, false},
		{"text-after-fingerprint-rejected", "Accepted publickey for a from 10.0.0.5 port 1 ssh2: ED25519 " + fpA + " x", Accepted{}, true},
		{"certificate-without-id-rejected", "Accepted publickey for a from 10.0.0.5 port 1 ssh2: ED25519-CERT " + fpA, Accepted{}, true},
		{"port-leading-zero-rejected", "Accepted publickey for a from 10.0.0.5 port 022 ssh2: ED25519 " + fpA, Accepted{}, true},
		{"port-out-of-range-rejected", "Accepted publickey for a from 10.0.0.5 port 65536 ssh2: ED25519 " + fpA, Accepted{}, true},
		{"address-not-ip-rejected", "Accepted publickey for a from evil.example port 1 ssh2: ED25519 " + fpA, Accepted{}, true},
		{"address-not-canonical-rejected", "Accepted publickey for a from 2001:0db8::1 port 1 ssh2: ED25519 " + fpA, Accepted{}, true},
		{"double-space-rejected", "Accepted publickey for a  from 10.0.0.5 port 1 ssh2: ED25519 " + fpA, Accepted{}, true},
		{"tab-in-user-rejected", "Accepted publickey for a\tb from 10.0.0.5 port 1 ssh2: ED25519 " + fpA, Accepted{}, true},
		{"short-fingerprint-rejected", "Accepted publickey for a from 10.0.0.5 port 1 ssh2: ED25519 SHA256:abc", Accepted{}, true},
		{"lowercase-type-rejected", "Accepted publickey for a from 10.0.0.5 port 1 ssh2: ed25519 " + fpA, Accepted{}, true},
		{"no-ssh2-rejected", "Accepted publickey for a from 10.0.0.5 port 1: ED25519 " + fpA, Accepted{}, true},
		// An attacker who controls the user name sshd logs could try to smuggle a second
		// "from": the name is one token, so the line does not parse.
		{"user-with-from-rejected", "Accepted publickey for a from 1.2.3.4 port 1 ssh2: RSA " + fpB + " from 10.0.0.5 port 1 ssh2: ED25519 " + fpA, Accepted{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAccepted(tc.msg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseAccepted err = %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("ParseAccepted (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("other-sshd-line-is-not-counted", func(t *testing.T) {
		if _, err := ParseAccepted("Failed publickey for a from 10.0.0.5 port 1 ssh2: ED25519 " + fpA); err != ErrNotAccepted {
			t.Errorf("err = %v, want ErrNotAccepted", err)
		}
	})
}

func TestParseGrant(t *testing.T) {
	sentence := "Providing ssh key from EC2 Instance Connect with fingerprint: " + fpA + ", request-id: " + reqA + ", for IAM principal: " + arn
	fields := " path=direct user=ec2-user fingerprint=" + fpA + " request_id=" + reqA + " caller=" + arn + " event=accept"
	tests := []struct {
		name    string
		msg     string
		want    Grant
		wantErr bool
	}{
		{"upstream-sentence", sentence, Grant{Fingerprint: fpA, RequestID: reqA, Caller: arn}, false},
		{"syslog-fields-give-user", sentence + fields, Grant{User: "ec2-user", Fingerprint: fpA, RequestID: reqA, Caller: arn}, false},
		{"quoted-field", sentence + fields + ` detail="a b"`, Grant{User: "ec2-user", Fingerprint: fpA, RequestID: reqA, Caller: arn}, false},
		{"role-session-arn", "Providing ssh key from EC2 Instance Connect with fingerprint: " + fpA + ", request-id: r, for IAM principal: arn:aws:sts::1:assumed-role/R/a=b,c@d",
			Grant{Fingerprint: fpA, RequestID: "r", Caller: "arn:aws:sts::1:assumed-role/R/a=b,c@d"}, false},
		{"fields-disagree-rejected", sentence + " user=ec2-user fingerprint=" + fpB + " request_id=" + reqA + " caller=" + arn + " event=accept", Grant{}, true},
		{"caller-field-disagrees-rejected", sentence + " user=ec2-user fingerprint=" + fpA + " request_id=" + reqA + " caller=arn:aws:iam::1:user/mallory event=accept", Grant{}, true},
		{"event-not-accept-rejected", sentence + " user=ec2-user fingerprint=" + fpA + " request_id=" + reqA + " caller=" + arn + " event=reject", Grant{}, true},
		{"duplicate-field-rejected", sentence + fields + " user=root", Grant{}, true},
		{"bad-quoting-rejected", sentence + fields + ` detail="a`, Grant{}, true},
		{"trailing-space-rejected", sentence + fields + " ", Grant{}, true},
		{"not-an-arn-rejected", "Providing ssh key from EC2 Instance Connect with fingerprint: " + fpA + ", request-id: r, for IAM principal: alice", Grant{}, true},
		{"not-a-fingerprint-rejected", "Providing ssh key from EC2 Instance Connect with fingerprint: x, request-id: r, for IAM principal: " + arn, Grant{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGrant(tc.msg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseGrant err = %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseGrant (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSyslog(t *testing.T) {
	ref := time.Date(2025, 1, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		line    string
		want    SyslogLine
		wantErr bool
	}{
		{"traditional", "Jan  2 03:04:05 host sshd[12]: hello",
			SyslogLine{Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Host: "host", Tag: "sshd", Msg: "hello"}, false},
		{"traditional-last-year", "Dec 31 23:59:59 host sshd[12]: hello",
			SyslogLine{Time: time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC), Host: "host", Tag: "sshd", Msg: "hello"}, false},
		{"no-pid", "Jan  2 03:04:05 host ec2-instance-connect: hi",
			SyslogLine{Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Host: "host", Tag: "ec2-instance-connect", Msg: "hi"}, false},
		{"rsyslog-rfc3339", "2025-01-02T03:04:05.123456+01:00 host sshd[1]: m",
			SyslogLine{Time: time.Date(2025, 1, 2, 2, 4, 5, 123456000, time.UTC), Host: "host", Tag: "sshd", Msg: "m"}, false},
		{"journalctl-short-iso", "2025-01-02T03:04:05+0000 host sshd[1]: m",
			SyslogLine{Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Host: "host", Tag: "sshd", Msg: "m"}, false},
		{"no-header-rejected", "sshd[1]: m", SyslogLine{}, true},
		{"bad-month-rejected", "Foo  2 03:04:05 host sshd[1]: m", SyslogLine{}, true},
		{"bad-date-rejected", "2025-13-02T03:04:05Z host sshd[1]: m", SyslogLine{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSyslog(tc.line, ref, time.UTC)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseSyslog err = %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("ParseSyslog (-want +got):\n%s", diff)
			}
		})
	}
}
