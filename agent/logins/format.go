package logins

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteTable prints logins as an aligned table: time (UTC, as CloudTrail shows it), OS user,
// source address, IAM principal and request id, "-" where there is none.
func WriteTable(w io.Writer, logins []Login) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tUSER\tFROM\tPRINCIPAL\tREQUEST ID")
	for _, l := range logins {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.Time.UTC().Format(time.RFC3339), l.User, l.From,
			dash(l.Principal), dash(l.RequestID))
	}
	return tw.Flush()
}

// WriteJSON prints logins as one JSON array.
func WriteJSON(w io.Writer, logins []Login) error {
	if logins == nil {
		logins = []Login{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(logins)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
