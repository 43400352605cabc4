package logins

import (
	"strings"
	"testing"
	"time"
)

func FuzzParseAccepted(f *testing.F) {
	for _, s := range []string{
		"Accepted publickey for ec2-user from 10.0.0.5 port 52518 ssh2: ED25519 " + fpA,
		"Accepted publickey for a from 2001:db8::1 port 1 ssh2: ED25519-CERT " + fpA + " ID k (serial 1) CA ED25519 " + fpB,
		"Accepted publickey for a from 10.0.0.5 port 1 ssh2: RSA " + md5FP,
		"Accepted publickey for  from  port  ssh2:  ",
		"Accepted publickey for a from fe80::1%eth0 port 65535 ssh2: ECDSA-SK " + fpA,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		a, err := ParseAccepted(msg)
		if err != nil {
			return
		}
		// What parses is what sshd would have written: rebuilding the line gives it back.
		rebuilt := acceptedPrefix + a.User + " from " + a.Addr.String() + " port " + itoa(a.Port) + " ssh2: " + a.KeyType + " " + a.Fingerprint
		if a.Cert {
			if !strings.HasPrefix(msg, rebuilt+" ID ") {
				t.Fatalf("certificate line %q parsed as %+v", msg, a)
			}
			return
		}
		if rebuilt != msg || !ValidFingerprint(a.Fingerprint) || !validUser(a.User) {
			t.Fatalf("line %q parsed as %+v (rebuilt %q)", msg, a, rebuilt)
		}
	})
}

func itoa(p uint16) string {
	var b [5]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + p%10)
		p /= 10
		if p == 0 {
			return string(b[i:])
		}
	}
}

func FuzzParseSyslog(f *testing.F) {
	for _, s := range []string{
		"Nov 30 23:09:04 vm sshd[103]: Accepted publickey for ec2-user from 127.0.0.1 port 52518 ssh2: ED25519 " + fpA,
		"2026-11-30T23:09:04+0000 vm ec2-instance-connect[105]: Providing ssh key from EC2 Instance Connect with fingerprint: " + fpA + ", request-id: r, for IAM principal: " + arn,
		"2025-01-02T03:04:05.123456+01:00 host sshd: m",
		"Feb 29 00:00:00 h t[1]: ",
	} {
		f.Add(s)
	}
	ref := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, line string) {
		sl, err := ParseSyslog(line, ref, time.UTC)
		if err != nil {
			return
		}
		if sl.Host == "" || sl.Tag == "" || strings.ContainsAny(sl.Host+sl.Tag, " \n") || !strings.HasSuffix(line, sl.Msg) {
			t.Fatalf("line %q parsed as %+v", line, sl)
		}
		if sl.Time.After(ref.Add(24*time.Hour)) && !strings.HasPrefix(line, "2") && !strings.HasPrefix(line, "1") {
			t.Fatalf("traditional line %q dated %v, after the reference", line, sl.Time)
		}
		// Whatever the header was, the message parses (or not) on its own terms.
		_, _ = ParseAccepted(sl.Msg)
		_, _ = ParseGrant(sl.Msg)
	})
}

func FuzzParseGrant(f *testing.F) {
	sentence := "Providing ssh key from EC2 Instance Connect with fingerprint: " + fpA + ", request-id: " + reqA + ", for IAM principal: " + arn
	f.Add(sentence)
	f.Add(sentence + " path=direct user=ec2-user fingerprint=" + fpA + " request_id=" + reqA + " caller=" + arn + " event=accept")
	f.Add(sentence + ` user="a b" event=accept`)
	f.Fuzz(func(t *testing.T, msg string) {
		g, err := ParseGrant(msg)
		if err != nil {
			return
		}
		if !ValidFingerprint(g.Fingerprint) || !strings.HasPrefix(g.Caller, "arn:") || (g.User != "" && !validUser(g.User)) {
			t.Fatalf("message %q parsed as %+v", msg, g)
		}
	})
}
