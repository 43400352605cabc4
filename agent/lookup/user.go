package lookup

import (
	"fmt"
	"strconv"

	"github.com/eic-agent/eic-agent/agent/imds"
)

// ValidateUser reports whether user could ever receive an EC2 Instance Connect key: it must
// match the InstanceOSUser constraint of SendSSHPublicKey (imds.ValidUser). A name outside it is
// refused before any network call, which keeps path tricks such as "../x", "a/b" or "%2e%2e"
// away from the IMDS URL.
func ValidateUser(user string) error {
	if user == "" {
		return fmt.Errorf("user name is empty")
	}
	if !imds.ValidUser(user) {
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
