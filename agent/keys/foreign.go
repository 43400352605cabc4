package keys

import (
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Foreign is an authorized_keys entry that another AuthorizedKeysCommand vouched for (see
// ParseForeignLine), in the form the helper passes to sshd.
type Foreign struct {
	// Line is "[OPTIONS ]TYPE BASE64": the options exactly as written, the key re-encoded, no
	// comment.
	Line        string
	Key         ssh.PublicKey
	Options     string // "" when there are none
	Fingerprint string // SHA256:...
}

// ParseForeignLine is the key-line rule for keys that come from a chained AuthorizedKeysCommand
// rather than from a signed bundle. It reads the line the way sshd reads an authorized_keys
// line (an optional options field, then the key type, the base64 key and a comment) and
// accepts it when the type is one ParseLine accepts, names the key the base64 decodes to, and
// the line holds no control character but tab.
//
// Unlike ParseLine it allows options: sshd accepts them from any key command, tools rely on
// them (opkssh prints cert-authority,principals="..."), and dropping one such as from=,
// command= or restrict would let the key do more than its source allowed. The options field
// is delimited exactly as sshd delimits it and passed on unchanged, for sshd to judge; a line
// whose options sshd would reject is rejected by sshd, never widened here. It returns the
// entry, or why the line is unusable.
func ParseForeignLine(line string) (Foreign, Reason, string) {
	if i := strings.IndexFunc(line, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }); i >= 0 {
		return Foreign{}, ReasonBadKey, fmt.Sprintf("line has a control character (byte %d)", i)
	}
	rest := strings.TrimLeft(line, " \t")
	if rest == "" || rest[0] == '#' {
		return Foreign{}, ReasonBadKey, "line is empty or a comment"
	}
	var options string
	key, reason, detail := readKey(rest)
	if key == nil {
		// As sshd does: no key at the start, so the first field is the options.
		end, ok := pastOptions(rest)
		if !ok {
			return Foreign{}, ReasonBadKey, "options have an unterminated quote"
		}
		options, rest = rest[:end], strings.TrimLeft(rest[end:], " \t")
		k, r, d := readKey(rest)
		if k == nil {
			// A lone word after the options explains less than what was wrong at the start.
			if strings.ContainsAny(rest, " \t") {
				reason, detail = r, d
			}
			return Foreign{}, reason, detail
		}
		key = k
	}
	if _, isCert := key.(*ssh.Certificate); isCert {
		return Foreign{}, ReasonBadKey, fmt.Sprintf("key is a certificate (%s), not a key sshd can match", key.Type())
	}
	if !keyTypes[key.Type()] {
		return Foreign{}, ReasonBadKey, fmt.Sprintf("key type %.64q is not accepted", key.Type())
	}
	canonical := key.Type() + " " + base64.StdEncoding.EncodeToString(key.Marshal())
	if options != "" {
		canonical = options + " " + canonical
	}
	return Foreign{Line: canonical, Key: key, Options: options, Fingerprint: ssh.FingerprintSHA256(key)}, "", ""
}

// readKey reads "TYPE BASE64[ COMMENT]" and returns the key when the base64 decodes to a key
// of exactly that type (sshd's sshkey_read checks the same), else why not.
func readKey(s string) (ssh.PublicKey, Reason, string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return nil, ReasonBadKey, "line has no key type and key"
	}
	typ, b64 := s[:i], strings.TrimLeft(s[i:], " \t")
	if j := strings.IndexAny(b64, " \t"); j >= 0 {
		b64 = b64[:j]
	}
	if b64 == "" {
		return nil, ReasonBadKey, "line has no key after its type"
	}
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, ReasonBadKey, "key is not valid base64"
	}
	key, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, ReasonBadKey, fmt.Sprintf("key does not parse: %v", err)
	}
	if key.Type() != typ {
		return nil, ReasonBadKey, fmt.Sprintf("key type field %.64q does not match the key (%s)", typ, key.Type())
	}
	return key, "", ""
}

// pastOptions returns where the options field at the start of s ends: at the first space or
// tab outside double quotes, a backslash-escaped quote not counting. ok is false for an
// unterminated quote. This is sshd's sshkey_advance_past_options, so both agree on where the
// key starts.
func pastOptions(s string) (end int, ok bool) {
	quoted := false
	i := 0
	for ; i < len(s) && (quoted || s[i] != ' ' && s[i] != '\t'); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '"':
			i++
		case s[i] == '"':
			quoted = !quoted
		}
	}
	return i, !quoted
}
