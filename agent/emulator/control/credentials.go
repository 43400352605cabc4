package control

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/eic-agent/eic-agent/agent/localfile"
)

// Credentials are the AWS access key the emulator's SendSSHPublicKey route checks signatures
// against. They are test material: whoever holds them can push keys to the emulator, nothing
// more.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken, when set, must come with every request (X-Amz-Security-Token), as with
	// temporary credentials.
	SessionToken string
}

// Bounds of the shared-credentials file and its values. Access key ids follow IAM's
// AccessKeyId shape (16..128 word characters); the rest are bounded so a stray file cannot
// make the emulator hold much.
const (
	maxCredentialsFile = 64 << 10
	maxSecretLen       = 128
	maxSessionTokenLen = 8192
)

var (
	accessKeyIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)
	// printable ASCII without spaces: what the CLI and SDKs send unchanged in headers
	credentialValuePattern = regexp.MustCompile(`^[\x21-\x7e]+$`)
)

// Names of the shared-credentials format (the AWS CLI's ~/.aws/credentials).
const (
	credentialsProfile = "default"
	keyAccessKeyID     = "aws_access_key_id"
	keySecretAccessKey = "aws_secret_access_key"
	keySessionToken    = "aws_session_token"
)

// NewCredentials makes a random access key pair shaped like AWS's (AKIA + 16 characters,
// a 40-character secret).
func NewCredentials() (Credentials, error) {
	var id [10]byte
	var secret [30]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Credentials{}, fmt.Errorf("generate credentials: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return Credentials{}, fmt.Errorf("generate credentials: %w", err)
	}
	return Credentials{
		AccessKeyID:     "AKIA" + base32.StdEncoding.EncodeToString(id[:]),
		SecretAccessKey: base64.StdEncoding.EncodeToString(secret[:]),
	}, nil
}

// Validate says what is wrong with c, if anything.
func (c Credentials) Validate() error {
	switch {
	case !accessKeyIDPattern.MatchString(c.AccessKeyID):
		return fmt.Errorf("credentials: %s must be 16..128 letters and digits", keyAccessKeyID)
	case len(c.SecretAccessKey) < 16 || len(c.SecretAccessKey) > maxSecretLen ||
		!credentialValuePattern.MatchString(c.SecretAccessKey):
		return fmt.Errorf("credentials: %s must be 16..%d printable characters without spaces",
			keySecretAccessKey, maxSecretLen)
	case c.SessionToken != "" && (len(c.SessionToken) > maxSessionTokenLen ||
		!credentialValuePattern.MatchString(c.SessionToken)):
		return fmt.Errorf("credentials: %s must be at most %d printable characters without spaces",
			keySessionToken, maxSessionTokenLen)
	}
	return nil
}

// ReadCredentialsFile reads credentials from a file in the AWS shared-credentials format:
// the [default] profile's aws_access_key_id, aws_secret_access_key and, optionally,
// aws_session_token. The same file works for the AWS CLI as AWS_SHARED_CREDENTIALS_FILE.
func ReadCredentialsFile(path string) (Credentials, error) {
	b, err := localfile.Read(path, maxCredentialsFile, nil)
	if err != nil {
		return Credentials{}, fmt.Errorf("read AWS credentials %s: %w", path, err)
	}
	c, err := ParseCredentials(b)
	if err != nil {
		return Credentials{}, fmt.Errorf("read AWS credentials %s: %w", path, err)
	}
	return c, nil
}

// ParseCredentials parses the shared-credentials format strictly: sections, "key = value"
// lines and comments (# or ;) only; other profiles are skipped; in [default] the three keys
// above may each appear once and nothing else may appear.
func ParseCredentials(b []byte) (Credentials, error) {
	if len(b) > maxCredentialsFile {
		return Credentials{}, fmt.Errorf("credentials: over %d KiB", maxCredentialsFile>>10)
	}
	var c Credentials
	fields := map[string]*string{
		keyAccessKeyID: &c.AccessKeyID, keySecretAccessKey: &c.SecretAccessKey, keySessionToken: &c.SessionToken,
	}
	seen := map[string]bool{}
	section, sawDefault := "", false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxCredentialsFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			name, ok := strings.CutSuffix(line[1:], "]")
			if !ok || strings.TrimSpace(name) == "" {
				return Credentials{}, fmt.Errorf("credentials: line %d: malformed section %.40q", n, line)
			}
			section = strings.TrimSpace(name)
			if section == credentialsProfile {
				if sawDefault {
					return Credentials{}, fmt.Errorf("credentials: line %d: second [%s] section", n, credentialsProfile)
				}
				sawDefault = true
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return Credentials{}, fmt.Errorf("credentials: line %d: want key = value", n)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case section == "":
			return Credentials{}, fmt.Errorf("credentials: line %d: %.40q is outside any [profile]", n, key)
		case section != credentialsProfile:
			continue
		case fields[key] == nil:
			return Credentials{}, fmt.Errorf("credentials: line %d: unknown key %.40q in [%s] (want %s, %s, %s)",
				n, key, credentialsProfile, keyAccessKeyID, keySecretAccessKey, keySessionToken)
		case seen[key]:
			return Credentials{}, fmt.Errorf("credentials: line %d: %s given twice", n, key)
		}
		seen[key] = true
		*fields[key] = value
	}
	if err := sc.Err(); err != nil {
		return Credentials{}, fmt.Errorf("credentials: %w", err)
	}
	if !sawDefault {
		return Credentials{}, fmt.Errorf("credentials: no [%s] profile", credentialsProfile)
	}
	if err := c.Validate(); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// Marshal writes c in the shared-credentials format, as ParseCredentials reads it.
func (c Credentials) Marshal() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s]\n%s = %s\n%s = %s\n", credentialsProfile,
		keyAccessKeyID, c.AccessKeyID, keySecretAccessKey, c.SecretAccessKey)
	if c.SessionToken != "" {
		fmt.Fprintf(&b, "%s = %s\n", keySessionToken, c.SessionToken)
	}
	return []byte(b.String())
}

// WriteFile writes c to path in the shared-credentials format, readable by its owner only,
// through a temporary file and a rename so a reader never sees half of it.
func (c Credentials) WriteFile(path string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := writeAtomic(path, string(c.Marshal()), 0o600); err != nil {
		return fmt.Errorf("write AWS credentials %s: %w", path, err)
	}
	return nil
}

// errNoCredentials: a handler without credentials refuses every SendSSHPublicKey.
var errNoCredentials = errors.New("the emulator has no AWS credentials to check signatures against")
