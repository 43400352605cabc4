package keys_test

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/keys"
)

func TestParseForeignLine(t *testing.T) {
	ed, ec := key(t, "ed25519"), key(t, "ecdsa-p384")
	edB64 := base64.StdEncoding.EncodeToString(ed.Marshal())
	ca, err := ssh.NewSignerFromKey(mustOnce(t, testSigner))
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: ed, CertType: ssh.UserCert, ValidPrincipals: []string{"root"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, line string
		want       string // canonical line; "" means rejected
		wantDetail string // part of the rejection detail
	}{
		{name: "plain-key-passes", line: line(ed), want: line(ed)},
		{name: "comment-dropped", line: line(ec) + " alice@laptop", want: line(ec)},
		{name: "leading-and-inner-blanks-allowed", line: " \t ssh-ed25519 \t " + edB64 + "\tc", want: line(ed)},
		{name: "options-kept-verbatim", line: `from="10.0.0.0/8",no-pty,command="echo a, b" ` + line(ed) + " c",
			want: `from="10.0.0.0/8",no-pty,command="echo a, b" ` + line(ed)},
		{name: "opkssh-cert-authority-kept", line: `cert-authority,principals="alice" ` + line(ec),
			want: `cert-authority,principals="alice" ` + line(ec)},
		{name: "escaped-quote-in-option", line: `command="echo \"x y\"" ` + line(ed), want: `command="echo \"x y\"" ` + line(ed)},
		{name: "every-accepted-type-passes", line: line(key(t, "sk-ecdsa-p256")), want: line(key(t, "sk-ecdsa-p256"))},
		{name: "junk-rejected", line: "hello world", wantDetail: "not valid base64"},
		{name: "one-word-rejected", line: "junk", wantDetail: "no key type"},
		{name: "truncated-key-rejected", line: "ssh-ed25519 " + edB64[:20], wantDetail: "does not parse"},
		{name: "unterminated-quote-rejected", line: `command="x ` + line(ed), wantDetail: "unterminated quote"},
		// sshd refuses these (the type field must name the key); passing the key on without
		// its first field would turn a restricted key into an unrestricted one.
		{name: "option-without-type-rejected", line: "restrict " + edB64, wantDetail: "does not match"},
		{name: "type-field-mismatch-rejected", line: "ssh-rsa " + edB64, wantDetail: "does not match"},
		{name: "certificate-rejected", line: line(cert), wantDetail: "certificate"},
		{name: "nul-rejected", line: line(ed) + "\x00 ssh-rsa x", wantDetail: "control character"},
		{name: "carriage-return-rejected", line: line(ed) + "\r", wantDetail: "control character"},
		{name: "embedded-newline-rejected", line: "restrict\n" + line(ed), wantDetail: "control character"},
		{name: "comment-line-rejected", line: "# " + line(ed), wantDetail: "comment"},
		{name: "empty-rejected", line: "", wantDetail: "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, reason, detail := keys.ParseForeignLine(tc.line)
			if tc.want == "" {
				if reason != keys.ReasonBadKey || !strings.Contains(detail, tc.wantDetail) || f.Line != "" {
					t.Fatalf("ParseForeignLine(%q) = %q, %q, %q; want rejected (bad-key) with %q", tc.line, f.Line, reason, detail, tc.wantDetail)
				}
				return
			}
			if reason != "" || f.Line != tc.want {
				t.Fatalf("ParseForeignLine(%q) = %q, %q, %q; want %q", tc.line, f.Line, reason, detail, tc.want)
			}
			if f.Fingerprint != ssh.FingerprintSHA256(f.Key) {
				t.Errorf("fingerprint %s, want %s", f.Fingerprint, ssh.FingerprintSHA256(f.Key))
			}
		})
	}
}

// FuzzParseForeignLine checks that whatever passes is a line sshd reads as the same key with
// the same options: canonical, free of control characters, and stable when parsed again.
func FuzzParseForeignLine(f *testing.F) {
	ed := key(f, "ed25519")
	for _, s := range []string{line(ed), `from="a b",restrict ` + line(ed) + " c", `command="\"" ` + line(ed), "restrict " + line(ed)[12:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, reason, detail := keys.ParseForeignLine(in)
		if reason != "" {
			if detail == "" || got.Line != "" {
				t.Fatalf("rejection %q without detail, or with a line %q", reason, got.Line)
			}
			return
		}
		if strings.ContainsFunc(got.Line, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			t.Fatalf("passed line %q has a control character", got.Line)
		}
		again, reason, _ := keys.ParseForeignLine(got.Line)
		if reason != "" || again.Line != got.Line {
			t.Fatalf("canonical line %q parses again as %q (%s)", got.Line, again.Line, reason)
		}
		if !strings.HasSuffix(got.Line, line(got.Key)) {
			t.Fatalf("line %q does not end with its key %q", got.Line, line(got.Key))
		}
	})
}
