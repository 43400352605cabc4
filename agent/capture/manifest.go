package capture

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

func (m Manifest) json() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("capture manifest: %w", err)
	}
	return append(b, '\n'), nil
}

// readme is the capture's README: what it holds and how to replay it.
func (m Manifest) readme() string {
	var b strings.Builder
	fmt.Fprintf(&b, "EC2 Instance Connect login capture for user %s on %s (%s, %s, domain %s)\n",
		m.User, m.InstanceID, m.Region, m.AvailabilityZone, m.Domain)
	fmt.Fprintf(&b, "taken %s (Unix %d) by eic-agent capture.\n\n", m.CapturedAt.Format(time.RFC3339), m.CapturedAtUnix)
	fmt.Fprintf(&b, "%s\tthe key bundle IMDS served for %s (empty when it had none)\n", KeysFile, m.User)
	fmt.Fprintf(&b, "%s\tthe signer certificate chain\n", ChainFile)
	fmt.Fprintf(&b, "%s/\tthe OCSP staples, one file per staple, as served (base64)\n", OCSPDir)
	if m.CA == CAFile {
		fmt.Fprintf(&b, "%s\tthe trusted roots of the instance\n", CAFile)
	}
	fmt.Fprintf(&b, "%s\twhat was captured, as JSON\n\n", ManifestFile)
	for _, n := range m.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	if len(m.Replay) > 0 {
		b.WriteString("Replay the login offline, in this directory, with the same checks a login makes:\n\n  ")
		b.WriteString(strings.Join(m.Replay, " "))
		b.WriteString("\n\nAdd --fingerprint SHA256:... to judge only the key the client offered.\n")
	}
	return b.String()
}
