package control

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/google/go-cmp/cmp"
)

const (
	testKeyID  = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func TestParseCredentials(t *testing.T) {
	want := Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	tests := []struct {
		name string
		in   string
		want Credentials
		err  string // in the error; "" for success
	}{
		{"default-profile", "[default]\naws_access_key_id = " + testKeyID + "\naws_secret_access_key = " + testSecret + "\n", want, ""},
		{"comments-blank-lines-crlf-and-other-profiles", "# made by hand\r\n[work]\naws_access_key_id = AKIAOTHEROTHEROTHER1\nregion = x\n\n" +
			"[default]\r\n; ours\r\naws_secret_access_key=" + testSecret + "\r\n  aws_access_key_id =" + testKeyID + "  \r\n", want, ""},
		{"session-token", "[default]\naws_access_key_id=" + testKeyID + "\naws_secret_access_key=" + testSecret + "\naws_session_token=TOKEN/+=\n",
			Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: "TOKEN/+="}, ""},
		{"no-default-profile", "[work]\naws_access_key_id=" + testKeyID + "\n", Credentials{}, "no [default] profile"},
		{"empty-file", "", Credentials{}, "no [default] profile"},
		{"key-outside-a-profile", "aws_access_key_id=" + testKeyID + "\n[default]\n", Credentials{}, "outside any [profile]"},
		{"unknown-key-in-default", "[default]\naws_secret_acces_key=" + testSecret + "\n", Credentials{}, `unknown key "aws_secret_acces_key"`},
		{"key-given-twice", "[default]\naws_access_key_id=" + testKeyID + "\naws_access_key_id=" + testKeyID + "\n", Credentials{}, "given twice"},
		{"second-default-section", "[default]\n[default]\n", Credentials{}, "second [default]"},
		{"line-without-equals", "[default]\naws_access_key_id\n", Credentials{}, "want key = value"},
		{"malformed-section", "[default\n", Credentials{}, "malformed section"},
		{"missing-secret", "[default]\naws_access_key_id=" + testKeyID + "\n", Credentials{}, "aws_secret_access_key must be"},
		{"short-key-id", "[default]\naws_access_key_id=x\naws_secret_access_key=" + testSecret + "\n", Credentials{}, "aws_access_key_id must be"},
		{"space-in-secret", "[default]\naws_access_key_id=" + testKeyID + "\naws_secret_access_key=abc def ghi jkl mno\n", Credentials{}, "aws_secret_access_key must be"},
		{"control-character-in-token", "[default]\naws_access_key_id=" + testKeyID + "\naws_secret_access_key=" + testSecret + "\naws_session_token=a\x00b\n", Credentials{}, "aws_session_token must be"},
		{"oversized-file", "[default]\n#" + strings.Repeat("x", maxCredentialsFile), Credentials{}, "over 64 KiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCredentials([]byte(tc.in))
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error = %v, want %q", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewCredentialsRoundTrip(t *testing.T) {
	c, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`).MatchString(c.AccessKeyID) || len(c.SecretAccessKey) != 40 {
		t.Fatalf("generated %q / %d-character secret, want AKIA+16 and 40 characters", c.AccessKeyID, len(c.SecretAccessKey))
	}
	path := filepath.Join(t.TempDir(), "credentials")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("written with mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	back, err := ReadCredentialsFile(path)
	if diff := cmp.Diff(c, back); err != nil || diff != "" {
		t.Fatalf("read back: %v (-want +got):\n%s", err, diff)
	}
	if other, _ := NewCredentials(); other == c {
		t.Fatal("two generated key pairs are equal")
	}
}

// FuzzParseCredentials: whatever the file holds, the parser returns valid credentials or an
// error, never panics, and what it returns reads back the same.
func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte("[default]\naws_access_key_id = " + testKeyID + "\naws_secret_access_key = " + testSecret + "\n"))
	f.Add([]byte("[default]\naws_access_key_id=" + testKeyID + "\naws_secret_access_key=" + testSecret + "\naws_session_token=T\n[x]\na=b\n"))
	f.Add([]byte("[\n]\n=\n;"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCredentials(b)
		if err != nil {
			return
		}
		if verr := c.Validate(); verr != nil {
			t.Fatalf("parsed invalid credentials %+v: %v", c, verr)
		}
		back, err := ParseCredentials(c.Marshal())
		if err != nil || back != c {
			t.Fatalf("marshal round trip: %+v, %v; want %+v", back, err, c)
		}
	})
}

// TestServeCredentials runs serve as a person would: the file it writes, or the one it is
// given, is what the SDK signs with, and the log line says where the secret is.
func TestServeCredentials(t *testing.T) {
	dir := t.TempDir()
	given := filepath.Join(dir, "given")
	if err := (Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}).WriteFile(given); err != nil {
		t.Fatal(err)
	}
	written := filepath.Join(dir, "written")
	tests := []struct {
		name  string
		flags []string
		file  string // the credentials the SDK then signs with
		log   string // regexp on serve's stderr
	}{
		{"generated-and-written", []string{"--aws-credentials-out", written}, written,
			`access key id AKIA[A-Z2-7]{16}, secret in ` + regexp.QuoteMeta(written) + ` \(AWS_SHARED_CREDENTIALS_FILE=`},
		{"read-from-a-file", []string{"--aws-credentials", given}, given,
			`access key id ` + testKeyID + `, secret in ` + regexp.QuoteMeta(given) + `\n`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startServe(t, append([]string{"serve", "--imds", "127.0.0.1:0", "--control", "127.0.0.1:0", "--quiet"}, tc.flags...)...)
			if !regexp.MustCompile(tc.log).MatchString(s.stderr.String()) {
				t.Fatalf("serve's log does not match %q:\n%s", tc.log, s.stderr)
			}
			creds, err := ReadCredentialsFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			_, key := newKey(t)
			cl := ec2instanceconnect.New(ec2instanceconnect.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.control),
				Credentials: staticCreds(creds), Retryer: aws.NopRetryer{}})
			out, err := cl.SendSSHPublicKey(testContext(t), &ec2instanceconnect.SendSSHPublicKeyInput{
				InstanceId: aws.String("i-0123456789abcdef0"), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: &key})
			if err != nil || !out.Success {
				t.Fatalf("push with the credentials of %s: %v", tc.file, err)
			}
		})
	}
	t.Run("generated-without-file-prints-the-secret", func(t *testing.T) {
		s := startServe(t, "serve", "--imds", "127.0.0.1:0", "--control", "127.0.0.1:0", "--quiet")
		if !regexp.MustCompile(`access key id AKIA[A-Z2-7]{16}, secret access key \S{40} \(--aws-credentials-out`).MatchString(s.stderr.String()) {
			t.Fatalf("serve's log does not name the generated pair:\n%s", s.stderr)
		}
	})
	t.Run("unreadable-file-stops-serve", func(t *testing.T) {
		_, _, err := cli(t, "serve", "--imds", "127.0.0.1:0", "--control", "127.0.0.1:0", "--aws-credentials", filepath.Join(dir, "none"))
		if err == nil || errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "read AWS credentials") {
			t.Fatalf("error %v, want one naming the credentials file", err)
		}
	})
	t.Run("reading-and-writing-is-usage", func(t *testing.T) {
		_, stderr, err := cli(t, "serve", "--aws-credentials", given, "--aws-credentials-out", written)
		if !errors.Is(err, ErrUsage) || !strings.Contains(stderr, "give one of them") {
			t.Fatalf("error %v, stderr %q; want a usage error", err, stderr)
		}
	})
}
