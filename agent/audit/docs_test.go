package audit

import (
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eic-agent/eic-agent/agent/chain"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

const docsPath = "../../docs/audit.md"

// docRow is a field row of docs/audit.md: "| `name` | `JOURNAL_NAME` | meaning |".
var docRow = regexp.MustCompile("^\\| `([a-z_]+)` \\| `([A-Z_]+)` \\|")

// docSections returns the field names each "## " section of the reference lists, in order.
func docSections(t *testing.T) map[string][][2]string {
	t.Helper()
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][2]string{}
	section := ""
	for _, l := range strings.Split(string(data), "\n") {
		if h, ok := strings.CutPrefix(l, "## "); ok {
			section, _, _ = strings.Cut(h, ":")
			continue
		}
		if m := docRow.FindStringSubmatch(l); m != nil {
			out[section] = append(out[section], [2]string{m[1], m[2]})
		}
	}
	return out
}

// emitted logs one record of each kind and returns its field names in order.
func emitted(t *testing.T) map[string][]string {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	Accepted(log, Grant{User: "u", Fingerprint: "SHA256:x", RequestID: "r", Caller: "arn:aws:iam::1:user/a",
		InstanceID: "i-0123456789abcdef0", Expires: time.Unix(1, 0), KeyType: "ssh-ed25519"})
	Rejected(log, Denial{User: "u", Reason: "expired"})
	RejectedMore(log, Unlisted{User: "u", Counts: map[string]int{"expired": 2}})
	// A failed chained run shows every field (an error, a refused line, stderr); a clean one
	// logs a subset of them, and one record per key it passes on.
	k := keys.Foreign{Key: testkit.Key(t, "ed25519"), Fingerprint: "SHA256:y"}
	chain.Result{Command: "/usr/bin/x", Keys: []keys.Foreign{k}, Refused: 1, FirstRefusal: "line 2: x",
		Stderr: "oops"}.Record(log, "u", errors.New("exit status 1"))
	chain.Result{Command: "/usr/bin/x", Keys: []keys.Foreign{k}}.Record(log, "u", nil)
	names := []string{"accept", "reject", "reject summary", "chain", "", "chain-key"}
	out := map[string][]string{}
	entries := logs.All()
	if len(entries) != len(names) {
		t.Fatalf("logged %d records, want %d", len(entries), len(names))
	}
	for i, e := range entries {
		if names[i] == "" || out[names[i]] != nil {
			continue // the same kind again (the clean chain run: a subset of the fields above)
		}
		for _, f := range e.Context {
			out[names[i]] = append(out[names[i]], f.Key)
		}
	}
	return out
}

// TestDocsListEveryField fails when a field is added to, renamed in or removed from a record
// without the same change to docs/audit.md, the stable reference.
func TestDocsListEveryField(t *testing.T) {
	docs := docSections(t)
	for record, fields := range emitted(t) {
		t.Run(strings.ReplaceAll(record, " ", "-")+"-fields-documented-in-order", func(t *testing.T) {
			var names []string
			for _, row := range docs[record] {
				names = append(names, row[0])
			}
			if diff := cmp.Diff(fields, names); diff != "" {
				t.Errorf("%s lists for %q (-logged +documented):\n%s", docsPath, record, diff)
			}
		})
	}
	t.Run("journald-names-match", func(t *testing.T) {
		for section, rows := range docs {
			for _, row := range rows {
				if want := journalFieldName(row[0]); row[1] != want {
					t.Errorf("%s, %s: journald name %s, want %s", docsPath, section, row[1], want)
				}
			}
		}
	})
	t.Run("helper-path-documented", func(t *testing.T) {
		if !slices.Contains(docs["Added by the helper"], [2]string{"path", "PATH"}) {
			t.Errorf("%s does not document the helper's path field", docsPath)
		}
	})
}

// TestDocsListEveryReason: every rejection reason keys declares is in the reason table (read
// from its source, so a new reason fails here until it is documented).
func TestDocsListEveryReason(t *testing.T) {
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../keys/keys.go")
	if err != nil {
		t.Fatal(err)
	}
	reasons := regexp.MustCompile(`Reason += "([a-z-]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(reasons) < len([]keys.Reason{keys.ReasonExpired, keys.ReasonFingerprintMismatch}) {
		t.Fatalf("found only %d reasons in keys.go", len(reasons))
	}
	for _, m := range reasons {
		if !strings.Contains(string(data), "| `"+m[1]+"` |") {
			t.Errorf("%s has no row for reason %q", docsPath, m[1])
		}
	}
}
