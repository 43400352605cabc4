//go:build packages

package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// manPages are the pages both packages ship, as written in docs/man/.
var manPages = []string{"eic-authorized-keys.8", "eic-agent.8", "eic-agent.toml.5"}

// TestManPages runs mandoc's linter (warnings and worse; a page another package provides, such
// as sshd(8), may be missing here) and man-db's formatter with warnings on every page. Both
// must print nothing.
func TestManPages(t *testing.T) {
	need(t, "mandoc", "man")
	found, err := filepath.Glob(filepath.Join("..", "docs", "man", "*.[1-8]"))
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != len(manPages) {
		t.Errorf("docs/man has %v; want exactly %v (add a new page to manPages, nfpm.yaml and payload)", found, manPages)
	}
	for _, page := range manPages {
		t.Run(page, func(t *testing.T) {
			path := filepath.Join("..", "docs", "man", page)
			if _, err := os.Stat(path); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("mandoc", "-T", "lint", "-W", "warning", path).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("mandoc -T lint: %v\n%s", err, out)
			}
			// As lintian's manpage check runs it: warnings go to stderr, the page to stdout.
			cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path)
			cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANROFFSEQ=", "MANWIDTH=80")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("man --warnings: %v\n%s", err, stderr.String())
			}
		})
	}
}
