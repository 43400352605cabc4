package packaging

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestMakeHelpListsEveryTarget: `make help` names every target the Makefile defines, and its
// CI line is exactly the make commands .ci/run runs, in order, so neither can drift.
func TestMakeHelpListsEveryTarget(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	help, err := exec.Command("make", "-s", "-C", "..", "help").Output()
	if err != nil {
		t.Fatalf("make help: %v", err)
	}
	listed := map[string]bool{}
	var ciLine string
	for _, l := range strings.Split(string(help), "\n") {
		if target, ok := strings.CutPrefix(l, "make "); ok {
			name, _, _ := strings.Cut(target, " ")
			listed[name] = true
		}
		if rest, ok := strings.CutPrefix(l, "CI (.ci/run) runs: "); ok {
			ciLine = rest
		}
	}
	for _, target := range matchLines(t, "../Makefile", regexp.MustCompile(`^([a-z][a-z0-9-]*):`)) {
		if !listed[target] {
			t.Errorf("make help does not list target %q", target)
		}
	}
	ciRuns := matchLines(t, "../.ci/run", regexp.MustCompile(`^(make [a-z][a-z0-9 -]*)$`))
	if got := strings.Split(ciLine, ", "); !slices.Equal(got, ciRuns) {
		t.Errorf("make help says CI runs %q; .ci/run runs %q", got, ciRuns)
	}
}

// matchLines returns the first submatch of re on every line of the file at path.
func matchLines(t *testing.T, path string, re *regexp.Regexp) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, m[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
