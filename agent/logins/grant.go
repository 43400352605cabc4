package logins

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// grantPrefix starts an accept record's message: upstream's wording, which eic-agent keeps.
const grantPrefix = "Providing ssh key from EC2 Instance Connect with fingerprint: "

// grantMessage is the whole upstream sentence. Fingerprints and request ids never hold a
// comma or a space, and an ARN never holds a space; in a syslog line the structured fields
// follow after one space.
var grantMessage = regexp.MustCompile(`^Providing ssh key from EC2 Instance Connect with fingerprint: ([^ ,]+), request-id: ([^ ,]+), for IAM principal: ([^ ]+)(?: (.+))?$`)

// ErrNotGrant: the message is not an accept record.
var ErrNotGrant = errors.New("not an accept record")

// ParseGrant reads an accept record's message. With rest (a syslog line carries the
// structured fields after the sentence, as key=value), those fields must agree with the
// sentence and say event=accept; then User is known. Upstream's records have only the
// sentence.
func ParseGrant(msg string) (Grant, error) {
	if !strings.HasPrefix(msg, grantPrefix) {
		return Grant{}, ErrNotGrant
	}
	m := grantMessage.FindStringSubmatch(msg)
	if m == nil {
		return Grant{}, fmt.Errorf("accept record %q: not in upstream's form", clip(msg))
	}
	g := Grant{Fingerprint: m[1], RequestID: m[2], Caller: m[3]}
	if err := g.check(); err != nil {
		return Grant{}, fmt.Errorf("accept record %q: %w", clip(msg), err)
	}
	if m[4] == "" {
		return g, nil
	}
	kv, err := parseFields(m[4])
	if err != nil {
		return Grant{}, fmt.Errorf("accept record %q: %w", clip(msg), err)
	}
	if err := g.agree(kv["event"], kv["fingerprint"], kv["request_id"], kv["caller"], kv["user"]); err != nil {
		return Grant{}, fmt.Errorf("accept record %q: %w", clip(msg), err)
	}
	g.User = kv["user"]
	return g, nil
}

func (g Grant) check() error {
	switch {
	case !ValidFingerprint(g.Fingerprint):
		return fmt.Errorf("%q is not a fingerprint", g.Fingerprint)
	case !printable(g.RequestID) || len(g.RequestID) > 128:
		return fmt.Errorf("request id %q is malformed", g.RequestID)
	case !strings.HasPrefix(g.Caller, "arn:") || !printable(g.Caller) || len(g.Caller) > 2048:
		return fmt.Errorf("principal %q is not an ARN", g.Caller)
	}
	return nil
}

// agree checks an accept record's structured fields against its sentence.
func (g Grant) agree(event, fp, req, caller, user string) error {
	switch {
	case event != "accept":
		return fmt.Errorf("event is %q, want accept", event)
	case fp != g.Fingerprint || req != g.RequestID || caller != g.Caller:
		return errors.New("structured fields disagree with the message")
	case !validUser(user):
		return fmt.Errorf("user %q is malformed", user)
	}
	return nil
}

// parseFields reads audit's syslog rendering: key=value separated by single spaces, a value
// either bare (no space, quote, backslash or equals sign) or a Go quoted string. A key seen
// twice is an error: which one would count is a guess.
func parseFields(s string) (map[string]string, error) {
	kv := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \"") {
			return nil, fmt.Errorf("field %q is not key=value", clip(s))
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, fmt.Errorf("field %s: bad quoting", k)
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			v, rest = rest[:end], rest[end:]
			if v == "" || strings.ContainsAny(v, `"\=`) {
				return nil, fmt.Errorf("field %s: malformed value", k)
			}
		}
		if _, dup := kv[k]; dup {
			return nil, fmt.Errorf("field %s given twice", k)
		}
		kv[k] = v
		if rest != "" {
			if rest[0] != ' ' || len(rest) == 1 {
				return nil, fmt.Errorf("field %s: no space before the next field", k)
			}
			rest = rest[1:]
		}
		s = rest
	}
	return kv, nil
}
