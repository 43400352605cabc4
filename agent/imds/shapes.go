package imds

import "strings"

// The shapes of the values IMDS serves and of the names that go into a request path, checked
// byte by byte. They were regular expressions; compiling those (with their large repeat counts)
// cost about a millisecond at every start of the helper, which sshd runs on every login.
// shapes_test.go keeps the expressions and checks these functions against them, so each one
// accepts exactly what its expression did. Every byte outside ASCII is refused, as the
// expressions refused every rune outside their ASCII classes.

// ValidInstanceID reports whether id has the shape of an EC2 instance id ("i-" and 8..32
// lowercase hex digits).
func ValidInstanceID(id string) bool {
	hex, ok := strings.CutPrefix(id, "i-")
	return ok && len(hex) >= 8 && len(hex) <= 32 && all(hex, isLowerHex)
}

// ValidUser reports whether user matches SendSSHPublicKey's InstanceOSUser constraint
// `^[A-Za-z_][A-Za-z0-9@._-]{0,30}[A-Za-z0-9$_-]?$`: no other name can ever have keys, and only
// such a name goes into a request path.
func ValidUser(user string) bool {
	n := len(user)
	if n == 0 || n > 32 || !isUserFirst(user[0]) {
		return false
	}
	if n == 1 {
		return true
	}
	last := user[n-1]
	// The 32nd character can only come from the optional last class: the middle holds 30.
	lastOK := isUserLast(last) || (n < 32 && isUserMiddle(last))
	return lastOK && all(user[1:n-1], isUserMiddle)
}

// validRegion reports whether s looks like a region name: `^[a-z]+(-[a-z]+)+-[0-9]+$`, so
// "us-east-1" or "us-gov-west-1".
func validRegion(s string) bool {
	i := strings.LastIndexByte(s, '-')
	if i < 0 || i == len(s)-1 || !all(s[i+1:], isDigit) {
		return false
	}
	return dashedWords(s[:i], isLower) && strings.IndexByte(s[:i], '-') > 0
}

// validZone reports whether s looks like a zone name: `^[a-z0-9-]{1,64}$`.
func validZone(s string) bool {
	return len(s) >= 1 && len(s) <= 64 && all(s, func(c byte) bool { return isLower(c) || isDigit(c) || c == '-' })
}

// validDomain reports whether s looks like a lowercase domain name: `^[a-z0-9.-]{1,253}$`.
func validDomain(s string) bool {
	return len(s) >= 1 && len(s) <= 253 &&
		all(s, func(c byte) bool { return isLower(c) || isDigit(c) || c == '-' || c == '.' })
}

// validStapleName reports whether s is a staple's handle: `^[0-9A-Fa-f]{40,128}$`.
func validStapleName(s string) bool {
	return len(s) >= 40 && len(s) <= 128 && all(s, isHex)
}

// validMetaPath reports whether p may follow meta-data/ in a request:
// `^[A-Za-z0-9_@$-][A-Za-z0-9._@$-]*(/[A-Za-z0-9_@$-][A-Za-z0-9._@$-]*)*/?$`, that is
// non-empty segments that do not start with a dot, and at most one trailing slash. User names
// bring the @ . $ _ - among them. ".." anywhere and lengths over 512 are the caller's check.
func validMetaPath(p string) bool {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg[0] == '.' || !all(seg, isPathChar) {
			return false
		}
	}
	return true
}

// dashedWords reports whether s is one or more non-empty runs of class bytes joined by single
// dashes.
func dashedWords(s string, class func(byte) bool) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	return all(s, func(c byte) bool { return c == '-' || class(c) })
}

// all reports whether every byte of s is in class (true for "": callers check lengths).
func all(s string, class func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !class(s[i]) {
			return false
		}
	}
	return true
}

func isLower(c byte) bool    { return 'a' <= c && c <= 'z' }
func isUpper(c byte) bool    { return 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isLowerHex(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'f') }
func isHex(c byte) bool      { return isLowerHex(c) || ('A' <= c && c <= 'F') }
func isAlnum(c byte) bool    { return isLower(c) || isUpper(c) || isDigit(c) }

func isUserFirst(c byte) bool  { return isLower(c) || isUpper(c) || c == '_' }
func isUserMiddle(c byte) bool { return isAlnum(c) || strings.IndexByte("@._-", c) >= 0 }
func isUserLast(c byte) bool   { return isAlnum(c) || strings.IndexByte("$_-", c) >= 0 }
func isPathChar(c byte) bool   { return isAlnum(c) || strings.IndexByte("._@$-", c) >= 0 }
