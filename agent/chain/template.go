package chain

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxArgs bounds the argv template; a key command needs a handful of arguments.
const MaxArgs = 32

// Args are the values sshd passed to the helper, for the template's tokens.
type Args struct {
	User        string // %u
	Fingerprint string // %f, as sshd wrote it
	KeyType     string // %t
	Key         string // %k, base64
}

const tokenHelp = "the tokens are %u (user), %f (fingerprint), %t (key type), %k (key, base64) and %% (a percent sign)"

// CheckTemplate reports why argv cannot be a chained command's template: argv[0] must be a
// clean absolute path without tokens (sshd does not expand its command's path either), and
// every argument may use only the tokens Expand knows. It does not look at the file system:
// sshdpath.Check does, each time the command runs, as sshd does.
func CheckTemplate(argv []string) error {
	switch {
	case len(argv) == 0:
		return errors.New("empty: give the program's absolute path, then its arguments")
	case len(argv) > MaxArgs:
		return fmt.Errorf("%d elements: at most %d are allowed", len(argv), MaxArgs)
	}
	path := argv[0]
	switch {
	case !filepath.IsAbs(path):
		return fmt.Errorf("program %q: must be an absolute path, as sshd requires of its own command", path)
	case filepath.Clean(path) != path:
		return fmt.Errorf("program %q: must be a clean path (no \"..\", \".\", \"//\" or trailing \"/\"); write %q", path, filepath.Clean(path))
	case strings.Contains(path, "%"):
		return fmt.Errorf("program %q: its path takes no %%-tokens", path)
	case hasControl(path):
		return fmt.Errorf("program %q: has a control character", path)
	}
	for i, a := range argv[1:] {
		if hasControl(a) {
			return fmt.Errorf("argument %d %q: has a control character", i+1, a)
		}
		if _, err := expandArg(a, Args{User: "u", Fingerprint: "f", KeyType: "t", Key: "k"}); err != nil {
			return fmt.Errorf("argument %d %q: %w", i+1, a, err)
		}
	}
	return nil
}

// Expand fills argv's tokens from a, each argument on its own as sshd does (a value with
// spaces stays one argument). A token whose value sshd did not pass is an error naming what
// to add to AuthorizedKeysCommand: running the command with an empty key would only fail.
func Expand(argv []string, a Args) ([]string, error) {
	if err := CheckTemplate(argv); err != nil {
		return nil, err
	}
	out := make([]string, len(argv))
	out[0] = argv[0]
	for i, arg := range argv[1:] {
		v, err := expandArg(arg, a)
		if err != nil {
			return nil, err
		}
		out[i+1] = v
	}
	return out, nil
}

// errMissing says which of sshd's tokens the helper must be given for the template.
type errMissing string

func (e errMissing) Error() string {
	return fmt.Sprintf("chain.command uses %s, but sshd did not pass it to the helper: make AuthorizedKeysCommand \"/usr/sbin/eic-authorized-keys %%u %%f %%t %%k\"", string(e))
}

func expandArg(s string, a Args) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("ends with a lone %%; write %%%% for a percent sign (%s)", tokenHelp)
		}
		i++
		var v string
		switch s[i] {
		case '%':
			v = "%"
		case 'u':
			v = a.User
		case 'f':
			v = a.Fingerprint
		case 't':
			v = a.KeyType
		case 'k':
			v = a.Key
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return "", fmt.Errorf("unknown token %%%c; %s", r, tokenHelp)
		}
		if v == "" {
			return "", errMissing("%" + string(s[i]))
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }
