package lookup

import (
	"fmt"
	"regexp"
	"strconv"
)

// osUserPattern is the InstanceOSUser constraint of the SendSSHPublicKey API (1..32 characters).
// A name outside it can never have pushed keys, so it is refused before any network call: this
// keeps path tricks such as "../x", "a/b" or "%2e%2e" away from the IMDS URL.
var osUserPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9@._-]{0,30}[A-Za-z0-9$_-]?$`)

// ValidateUser reports whether user could ever receive an EC2 Instance Connect key.
func ValidateUser(user string) error {
	if user == "" {
		return fmt.Errorf("user name is empty")
	}
	if len(user) > 32 || !osUserPattern.MatchString(user) {
		return fmt.Errorf("user name %s is not a valid EC2 Instance Connect OS user (letters, digits, @ . _ - and at most 32 characters)", strconv.QuoteToASCII(truncate(user, 64)))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
