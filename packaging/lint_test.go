//go:build packages

package packaging

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestJudgeLintOutput: the lines lintian and rpmlint print are read so that an error, or a
// warning nobody explained, fails the check, whatever the allowed lists say.
func TestJudgeLintOutput(t *testing.T) {
	allowed := map[string]string{"no-manual-page": "reason", "no-manual-page-for-binary": "reason"}
	for _, tc := range []struct {
		name  string
		parse func(string) (string, string, bool)
		out   string
		bad   int
		left  int
	}{
		{"lintian-error-fails-even-if-allowed-as-warning", lintianFinding, "E: eic-agent: no-manual-page [usr/sbin/x]\n", 1, 0},
		{"lintian-unexplained-warning-fails", lintianFinding, "W: eic-agent: binary-without-manpage [usr/sbin/x]\n", 1, 0},
		{"lintian-explained-warning-left", lintianFinding, "W: eic-agent: no-manual-page [usr/sbin/x]\n", 0, 1},
		{"lintian-info-and-notes-ignored", lintianFinding, "I: eic-agent: some-info\nN: text\nrunning with root privileges is not recommended!\n", 0, 0},
		{"rpmlint-error-fails", rpmlintFinding, "eic-agent.x86_64: E: no-signature\n", 1, 0},
		{"rpmlint-unexplained-warning-fails", rpmlintFinding, "eic-agent.x86_64: W: summary-too-long\n", 1, 0},
		{"rpmlint-explained-warning-left", rpmlintFinding, "eic-agent.x86_64: W: no-manual-page-for-binary eic-agent\n", 0, 1},
		{"rpmlint-summary-ignored", rpmlintFinding, "rpmlint: 2.4.0\n 1 packages and 0 specfiles checked; 0 errors, 0 warnings, 0 badness\n", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad, left := judge("lint", tc.out, tc.parse, allowed)
			if diff := cmp.Diff([]int{tc.bad, tc.left}, []int{len(bad), len(left)}); diff != "" {
				t.Errorf("[bad left] (-want +got):\n%s\nbad %q\nleft %q", diff, bad, left)
			}
		})
	}
}
