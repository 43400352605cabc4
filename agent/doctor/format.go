package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText writes the checklist for people: one aligned line per check, "ok   NAME  DETAIL",
// and under each warning or failure an indented "remedy: ..." line.
func WriteText(w io.Writer, checks []Check) error {
	width := 0
	for _, c := range checks {
		width = max(width, len(c.Name))
	}
	var b strings.Builder
	for _, c := range checks {
		fmt.Fprintf(&b, "%-4s %-*s  %s\n", c.Status, width, c.Name, oneLine(c.Detail))
		if c.Status != OK && c.Remedy != "" {
			fmt.Fprintf(&b, "     remedy: %s\n", oneLine(c.Remedy))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the checklist as one JSON array of Check objects.
func WriteJSON(w io.Writer, checks []Check) error {
	if checks == nil {
		checks = []Check{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(checks)
}

// oneLine keeps a detail that quotes a program's output (sshd, IMDS) on its line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
