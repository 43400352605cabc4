package keys_test

import (
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/keys"
)

func TestParseFingerprint(t *testing.T) {
	ed := key(t, "ed25519")
	sha := ssh.FingerprintSHA256(ed)
	md5 := "MD5:" + ssh.FingerprintLegacyMD5(ed)
	tests := []struct {
		name       string
		in         string
		wantString string // "" means a parse error is wanted
	}{
		{"sha256-accepted", sha, sha},
		{"md5-lowercase-accepted", md5, md5},
		{"md5-uppercase-accepted-and-lowered", "MD5:" + strings.ToUpper(md5[4:]), md5},
		{"empty-rejected", "", ""},
		{"sha256-empty-rejected", "SHA256:", ""},
		{"sha256-padded-rejected", sha + "=", ""},
		{"sha256-short-rejected", sha[:len(sha)-1], ""},
		{"sha256-long-rejected", sha + "AAAA", ""},
		{"sha256-url-alphabet-rejected", "SHA256:" + strings.Repeat("_", 43), ""},
		{"sha256-trailing-space-rejected", sha + " ", ""},
		{"sha256-lowercase-prefix-rejected", "sha256:" + sha[7:], ""},
		{"md5-without-prefix-rejected", md5[4:], ""},
		{"md5-fifteen-pairs-rejected", md5[:len(md5)-3], ""},
		{"md5-no-colons-rejected", "MD5:" + strings.ReplaceAll(md5[4:], ":", ""), ""},
		{"md5-non-hex-rejected", "MD5:" + "zz" + md5[6:], ""},
		{"unknown-hash-rejected", "SHA1:abc", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := keys.ParseFingerprint(tc.in)
			if tc.wantString == "" {
				if err == nil {
					t.Fatalf("ParseFingerprint(%q) = %q, want an error", tc.in, f)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFingerprint(%q): %v", tc.in, err)
			}
			if got := f.String(); got != tc.wantString {
				t.Errorf("String() = %q, want %q", got, tc.wantString)
			}
		})
	}
}

func TestFingerprintMatches(t *testing.T) {
	for _, k := range mustOnce(t, testKeys) {
		other := key(t, "ed25519")
		if k.name == "ed25519" {
			other = key(t, "rsa-2048")
		}
		for _, form := range []struct {
			name string
			fp   func(ssh.PublicKey) string
		}{
			{"sha256", ssh.FingerprintSHA256},
			{"md5", func(k ssh.PublicKey) string { return "MD5:" + ssh.FingerprintLegacyMD5(k) }},
		} {
			t.Run(k.name+"-"+form.name, func(t *testing.T) {
				f, err := keys.ParseFingerprint(form.fp(k.key))
				if err != nil {
					t.Fatal(err)
				}
				if !f.Matches(k.key) {
					t.Errorf("%s does not match its own key", f)
				}
				if f.Matches(other) {
					t.Errorf("%s matches another key (%s)", f, ssh.FingerprintSHA256(other))
				}
			})
		}
	}
	t.Run("zero-value-matches-nothing", func(t *testing.T) {
		if (keys.Fingerprint{}).Matches(key(t, "ed25519")) {
			t.Error("zero Fingerprint matched a key")
		}
	})
}
