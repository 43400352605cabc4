package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/lookup"
)

// SignerWarn is how close to the signer's expiry or a staple's nextUpdate a warning starts.
const SignerWarn = 24 * time.Hour

// Signer fetches and verifies the signer chain and its staples now, exactly as a login does
// (lookup.Direct), and reports the signer's expiry and each staple's nextUpdate.
func (d *Doctor) Signer(ctx context.Context) Check {
	c := Check{Name: "signer"}
	if _, err := d.probe.get(ctx, d.runProbe); err != nil {
		return warn(c, "not checked: IMDS did not answer", "fix the imds check first")
	}
	now := d.o.Now()
	sg, err := lookup.NewDirect(d.o.Config, func() time.Time { return now }).Signer(ctx)
	if err != nil {
		return fail(c, distinctLines(err.Error()), "no EC2 Instance Connect key is accepted until this verifies (see the advice in brackets)")
	}
	leaf := sg.Chain[0]
	parts := []string{fmt.Sprintf("%s valid until %s", leaf.Subject.CommonName, day(sg.NotAfter))}
	soon := sg.NotAfter.Sub(now) < SignerWarn
	for i, u := range sg.StapleUpdates {
		parts = append(parts, fmt.Sprintf("staple for %s next update %s", sg.Chain[i].Subject.CommonName, day(u)))
		soon = soon || u.Sub(now) < SignerWarn
	}
	detail := "verified: " + strings.Join(parts, "; ")
	if soon {
		return warn(c, detail+": within 24 h", "IMDS serves a new signer and fresh staples before these times; if it has not by then, logins stop (check the clock, then IMDS)")
	}
	return ok(c, detail)
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

// distinctLines joins the distinct lines of a joined error: fetches made in parallel often fail
// for one reason, said once each.
func distinctLines(s string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" && !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "; ")
}
