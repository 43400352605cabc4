package keys

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Fingerprint is the fingerprint sshd passes for %f: "SHA256:<unpadded base64>" or the legacy
// "MD5:xx:xx:...". The zero value matches no key.
type Fingerprint struct {
	hash string // "SHA256" or "MD5"
	text string // canonical form as ssh.FingerprintSHA256 / "MD5:"+ssh.FingerprintLegacyMD5 print it
}

var errFingerprint = errors.New("want SHA256:<base64> or MD5:xx:xx:...")

// ParseFingerprint parses a fingerprint as sshd prints it. The SHA256 form must be exactly what
// ssh.FingerprintSHA256 produces (unpadded standard base64 of 32 bytes); the MD5 form is 16
// colon-separated hex pairs, in either case.
func ParseFingerprint(s string) (Fingerprint, error) {
	switch {
	case strings.HasPrefix(s, "SHA256:"):
		sum, err := base64.RawStdEncoding.Strict().DecodeString(s[len("SHA256:"):])
		if err != nil || len(sum) != 32 {
			return Fingerprint{}, fmt.Errorf("parse fingerprint %.80q: %w", s, errFingerprint)
		}
		return Fingerprint{hash: "SHA256", text: s}, nil
	case strings.HasPrefix(s, "MD5:"):
		hexPairs := strings.ToLower(s[len("MD5:"):])
		if !validMD5(hexPairs) {
			return Fingerprint{}, fmt.Errorf("parse fingerprint %.80q: %w", s, errFingerprint)
		}
		return Fingerprint{hash: "MD5", text: "MD5:" + hexPairs}, nil
	}
	return Fingerprint{}, fmt.Errorf("parse fingerprint %.80q: %w", s, errFingerprint)
}

// validMD5 reports whether s is 16 lowercase hex pairs joined by ':'.
func validMD5(s string) bool {
	if len(s) != 16*3-1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// String returns the canonical form: the SHA256 form as given, the MD5 form in lowercase.
func (f Fingerprint) String() string { return f.text }

// Matches reports whether key has this fingerprint.
func (f Fingerprint) Matches(key ssh.PublicKey) bool {
	if key == nil {
		return false
	}
	switch f.hash {
	case "SHA256":
		return ssh.FingerprintSHA256(key) == f.text
	case "MD5":
		return "MD5:"+ssh.FingerprintLegacyMD5(key) == f.text
	}
	return false
}
