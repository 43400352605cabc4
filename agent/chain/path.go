package chain

import "github.com/eic-agent/eic-agent/agent/sshdpath"

// CheckPath applies sshd's rule for an AuthorizedKeysCommand to path (sshdpath.Check).
// Whoever could change the program or any directory above it could make the helper print a key
// for root. Like sshd, the rule is applied each time the command is about to run, so a later
// change is caught.
func CheckPath(path string) error {
	_, err := sshdpath.Check(path)
	return err
}
