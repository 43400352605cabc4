package logins

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// acceptedPrefix starts the line sshd's monitor logs for a public key login (auth.c auth_log,
// with auth2-pubkey.c's key description as the extra text):
//
//	Accepted publickey for USER from ADDR port PORT ssh2: TYPE FP
//	Accepted publickey for USER from ADDR port PORT ssh2: TYPE-CERT FP ID KEYID (serial N) CA TYPE FP
const acceptedPrefix = "Accepted publickey for "

// keyType is sshkey_type()'s name: RSA, ECDSA, ED25519, ECDSA-SK, ED25519-CERT, ...
var keyType = regexp.MustCompile(`^[A-Z0-9]+(-[A-Z0-9]+)*$`)

// ErrNotAccepted: the message is not an "Accepted publickey" line at all (not an error worth
// counting; most of sshd's lines are something else).
var ErrNotAccepted = errors.New("not an accepted publickey line")

// ParseAccepted reads one sshd message (without the syslog header). Time and Host are left
// for the caller, who knows them from the record around the message.
func ParseAccepted(msg string) (Accepted, error) {
	if !strings.HasPrefix(msg, acceptedPrefix) {
		return Accepted{}, ErrNotAccepted
	}
	// Tokens are separated by exactly one space; only a certificate's key id, after "ID", may
	// hold more.
	f := strings.SplitN(msg, " ", 12)
	if len(f) < 11 || f[4] != "from" || f[6] != "port" || f[8] != "ssh2:" {
		return Accepted{}, fmt.Errorf("sshd line %q: not in the form %q", clip(msg), acceptedPrefix+"USER from ADDR port PORT ssh2: TYPE FINGERPRINT")
	}
	a := Accepted{User: f[3], KeyType: f[9], Fingerprint: f[10]}
	if !validUser(a.User) {
		return Accepted{}, fmt.Errorf("sshd line %q: user name is empty, too long or has control characters", clip(msg))
	}
	addr, err := netip.ParseAddr(f[5])
	if err != nil || addr.String() != f[5] {
		return Accepted{}, fmt.Errorf("sshd line %q: source address %q is not an IP address as sshd prints one", clip(msg), f[5])
	}
	a.Addr = addr
	port, err := strconv.ParseUint(f[7], 10, 16)
	if err != nil || strconv.FormatUint(port, 10) != f[7] {
		return Accepted{}, fmt.Errorf("sshd line %q: port %q is not a number 0..65535", clip(msg), f[7])
	}
	a.Port = uint16(port)
	if !keyType.MatchString(a.KeyType) {
		return Accepted{}, fmt.Errorf("sshd line %q: key type %q is not one sshd names", clip(msg), a.KeyType)
	}
	if !ValidFingerprint(a.Fingerprint) {
		return Accepted{}, fmt.Errorf("sshd line %q: %q is not a SHA256: or MD5: fingerprint", clip(msg), a.Fingerprint)
	}
	a.Cert = strings.HasSuffix(a.KeyType, "-CERT")
	switch {
	case a.Cert && (len(f) < 12 || !strings.HasPrefix(f[11], "ID ")):
		return Accepted{}, fmt.Errorf("sshd line %q: certificate login without its ID", clip(msg))
	case !a.Cert && len(f) > 11:
		return Accepted{}, fmt.Errorf("sshd line %q: unexpected text after the fingerprint", clip(msg))
	}
	return a, nil
}

// ValidFingerprint reports whether s is an OpenSSH fingerprint: "SHA256:" and the unpadded
// base64 of 32 bytes, or "MD5:" and 16 lowercase hex pairs separated by colons.
func ValidFingerprint(s string) bool {
	if b64, ok := strings.CutPrefix(s, "SHA256:"); ok {
		raw, err := base64.RawStdEncoding.Strict().DecodeString(b64)
		return err == nil && len(raw) == 32
	}
	if hexs, ok := strings.CutPrefix(s, "MD5:"); ok {
		parts := strings.Split(hexs, ":")
		if len(parts) != 16 {
			return false
		}
		for _, p := range parts {
			if b, err := hex.DecodeString(p); err != nil || len(b) != 1 || strings.ToLower(p) != p {
				return false
			}
		}
		return true
	}
	return false
}

// validUser: sshd logs at most 100 bytes of the name; a login name never holds spaces or
// control characters.
func validUser(s string) bool {
	return s != "" && len(s) <= 100 && printable(s)
}

// printable: no space, no control character, no invalid UTF-8.
func printable(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == 0xfffd || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// clip keeps an untrusted line short in an error.
func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
