package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// answer is what one source said.
type answer struct {
	res lookup.Result
	err error
}

func (a answer) String() string {
	if a.err != nil {
		return "error: " + a.err.Error()
	}
	var acc []string
	for _, k := range a.res.Accepted {
		acc = append(acc, fmt.Sprintf("%s (req %.8s)", k.Key.Type(), k.RequestID))
	}
	var rej []string
	for _, r := range a.res.Rejected {
		rej = append(rej, string(r.Reason))
	}
	return fmt.Sprintf("%s, accepted [%s], rejected [%s]", a.res.Outcome, strings.Join(acc, ", "), strings.Join(rej, " "))
}

// keySet is the accepted keys as "LINE REQUEST-ID".
func (a answer) keySet() map[string]keys.Accepted {
	out := map[string]keys.Accepted{}
	if a.err == nil {
		for _, k := range a.res.Accepted {
			out[k.Line+" "+k.RequestID] = k
		}
	}
	return out
}

// queryOp asks one question and often asks it again: at once, as sshd's signed attempt does
// after its query, or a while later after another push for the user (which the key memory,
// remembering the first answer, must not hide).
func (w *world) queryOp() {
	q := w.query()
	w.ask(q, false)
	var d time.Duration
	switch w.rng.IntN(4) {
	case 0:
		return
	case 1:
		if !slices.Contains(diffUsers[:2], q.User) {
			return
		}
		w.pushFor(q.User, 1)
		d = time.Duration(1+w.rng.IntN(25)) * time.Second
	default:
		d = time.Duration(w.rng.IntN(3)) * time.Second
	}
	if d > 0 {
		w.do("advance "+d.String(), func() { w.f.clk.Advance(d) })
	}
	w.ask(q, false)
}

// query picks a user and the key asked about: one of the user's blocks (by its SHA256 or legacy
// MD5 fingerprint), a key of the pool the user may not have, one never pushed, or none.
func (w *world) query() lookup.Query {
	user := testUser
	switch r := w.rng.IntN(100); {
	case r < 25:
		user = "admin"
	case r < 33:
		user = "ghost"
	case r < 36:
		user = "../etc"
	}
	q := lookup.Query{User: user}
	var k *sshKey
	switch r, bs := w.rng.IntN(100), w.blocks[user]; {
	case r < 45 && len(bs) > 0:
		k = bs[w.rng.IntN(len(bs))].key
	case r < 60:
		k = &w.pool.keys[w.rng.IntN(len(w.pool.keys))]
	case r < 68:
		k = &w.pool.stranger
	}
	if k != nil {
		fp := k.sha
		if w.rng.IntN(5) == 0 {
			fp = k.md5
		}
		q.Fingerprint = &fp
	}
	return q
}

// ask puts q to both sources at the same clock, in an order the generator picks, and checks
// their answers.
func (w *world) ask(q lookup.Query, strict bool) {
	now := w.f.clk.Now()
	var d, s answer
	fetched := false // the service asked IMDS for the bundle
	direct := func() {
		withCtx(func(ctx context.Context) {
			d.res, d.err = lookup.Login(ctx, lookup.NewDirect(w.f.cfg, w.f.clk.Now), q, w.f.clk.Now)
		})
	}
	warm := func() {
		before := w.f.emu.Count(testkit.KeysPath(q.User))
		withCtx(func(ctx context.Context) { s.res, s.err = w.f.svc.Answer(ctx, q) })
		fetched = w.f.emu.Count(testkit.KeysPath(q.User)) > before
	}
	what := fmt.Sprintf("ask %s for %v", q.User, q.Fingerprint)
	if w.rng.IntN(2) == 0 {
		w.do(what+" (direct first)", func() { direct(); warm() })
	} else {
		w.do(what+" (warm first)", func() { warm(); direct() })
	}
	if !w.f.clk.Now().Equal(now) {
		w.t.Fatal("the clock moved during a query")
	}
	w.stats.counts["query"]++
	w.last = d
	w.check(q, now, d, s, fetched, strict)
}

// check holds the two answers to the rule and its one allowance (see the top of
// differential_test.go). strict refuses the allowance: revocation_check has passed since the
// last change. fetched says whether the service fetched the bundle for its answer.
func (w *world) check(q lookup.Query, now time.Time, d, s answer, fetched, strict bool) {
	w.t.Helper()
	fail := func(format string, args ...any) {
		w.t.Helper()
		trace := w.trace[max(0, len(w.trace)-40):]
		w.t.Fatalf("%s\n  query:  %s for %v at t+%v\n  direct: %s\n  warm:   %s\n  last steps:\n    %s",
			fmt.Sprintf(format, args...), q.User, q.Fingerprint, now.Sub(w.start), d, s, strings.Join(trace, "\n    "))
	}
	w.countOutcome(d)

	// The model of the signer's trust must be the direct source's, or the allowance would be
	// checked against fiction.
	valid := lookup.ValidateUser(q.User) == nil
	if w.down == "" && valid && d.err != nil && w.trustedNow() {
		fail("model: the signer IMDS serves is trusted, yet the direct source failed")
	}
	if d.err == nil && d.res.Outcome == lookup.Verified && !w.trustedNow() {
		fail("model: the signer IMDS serves is refused, yet the direct source verified with it")
	}

	switch {
	case d.err != nil && s.err != nil:
		w.stats.counts["both failed"]++
		return
	case d.err == nil && s.err != nil:
		fail("the service failed where direct mode answered")
	case d.err == nil && d.res.Outcome != s.res.Outcome:
		fail("outcomes differ: direct %s, warm %s", d.res.Outcome, s.res.Outcome)
	}
	dk, sk := d.keySet(), s.keySet()
	var missing, beyond []keys.Accepted
	for k, a := range dk {
		if _, ok := sk[k]; !ok {
			missing = append(missing, a)
		}
	}
	for k, a := range sk {
		if _, ok := dk[k]; !ok {
			beyond = append(beyond, a)
		}
	}
	if len(missing) > 0 {
		// The one accepted difference of the key memory: a key pushed again within key_memory is
		// granted under its earlier push. The same key line must be granted, from memory.
		if strict || fetched || !sameLines(missing, sk) || !w.pushedSince(q.User, missing, now.Add(-diffMemory)) {
			fail("the service does not accept %s key (req %s), which direct mode accepts", missing[0].Key.Type(), missing[0].RequestID)
		}
		w.stats.counts["allowance: memory names an earlier push of the same key"]++
	}
	if len(beyond) == 0 && d.err == nil {
		if len(missing) == 0 {
			w.stats.counts["agreed"]++
		}
		return
	}

	// They differ: only the allowance can explain it.
	if strict {
		fail("the service and direct mode still differ after revocation_check passed since the last change")
	}
	trusted := w.recentlyTrusted(now)
	if len(trusted) == 0 {
		fail("the service answered with no signer trusted within the last revocation_check (%v)", diffWindow)
	}
	for _, a := range beyond {
		if !w.justified(q, now, a, trusted) {
			fail("the service accepts %s key (req %s), which direct mode refuses and no signer trusted within the last revocation_check signed",
				a.Key.Type(), a.RequestID)
		}
	}
	if len(missing) > 0 {
		return // the earlier copy the memory names is counted with its allowance
	}
	cause := "signer changed"
	if w.down != "" {
		cause = "IMDS failing"
	}
	if d.err != nil {
		w.stats.counts["allowance: answered where direct failed"]++
		w.stats.counts["allowance: answered where direct failed ("+cause+")"]++
	}
	if len(beyond) > 0 {
		w.stats.counts["allowance: keys beyond direct"]++
		w.stats.counts["allowance: keys beyond direct ("+cause+")"]++
	}
}

// pushedSince reports whether every key of acc comes from a block pushed after since.
func (w *world) pushedSince(user string, acc []keys.Accepted, since time.Time) bool {
	for _, a := range acc {
		found := false
		for _, b := range w.blocks[user] {
			if b.key.line == a.Line && b.request == a.RequestID && b.pushed.After(since) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// justified reports whether the model holds a block that explains a: the same key line and
// request id, acceptable now for q with one of the trusted signers.
func (w *world) justified(q lookup.Query, now time.Time, a keys.Accepted, trusted map[int]bool) bool {
	for _, b := range w.blocks[q.User] {
		if b.key.line == a.Line && b.request == a.RequestID && b.acceptable(w.f.emu.InstanceID(), now, q.Fingerprint, trusted) {
			return true
		}
	}
	return false
}

func (w *world) countOutcome(d answer) {
	switch {
	case d.err != nil:
	case d.res.Outcome == lookup.Verified && len(d.res.Accepted) > 0:
		w.stats.counts["outcome verified+keys"]++
	default:
		w.stats.counts["outcome "+d.res.Outcome.String()]++
	}
}

// closeWindows ends a scenario by checking that the allowance's window closes. It heals IMDS
// and the signer, pushes a key per user, lets revocation_check pass and asks every question
// the scenario can pose (and the signed attempt of one granted, which the key memory may
// answer): the two must now agree exactly. Then it opens a window on purpose (the signer
// revoked, its staple broken, the signer rotated, or its staples unreadable), pushes another
// key per user, and asks a few questions inside the window, where the service may still
// grant, and again after revocation_check, where they must agree exactly once more.
func (w *world) closeWindows() {
	if w.down != "" {
		w.setDown("")
	}
	for !w.trustedNow() {
		w.heal()
	}
	// A key for each user, so the questions below need the signer: the service holds one, just
	// read, when the window opens.
	for _, user := range diffUsers[:2] {
		w.pushGood(user) // asked about with every key of the user below
	}
	w.do("advance past revocation_check", func() { w.f.clk.Advance(diffWindow + time.Second) })
	// The window's questions, per user: none, the key the user was last granted, and (below)
	// a key pushed after the change.
	var inWindow []lookup.Query
	for _, user := range diffUsers[:2] {
		w.serve(user)
		seen := map[string]bool{}
		fps := []*keys.Fingerprint{nil}
		for _, b := range w.blocks[user] {
			if fp := b.key.sha; !seen[fp.String()] {
				seen[fp.String()] = true
				fps = append(fps, &fp)
			}
		}
		inWindow = append(inWindow, lookup.Query{User: user})
		var last *lookup.Query
		for _, fp := range fps {
			q := lookup.Query{User: user, Fingerprint: fp}
			if w.closingAsk(q, true); len(w.last.res.Accepted) > 0 && fp != nil {
				last = &q
			}
		}
		if last != nil {
			w.closingAsk(*last, true) // its signed attempt, which the key memory may answer
			inWindow = append(inWindow, *last)
		}
	}
	switch w.seed % 4 { // each change in a quarter of the scenarios
	case 0:
		w.revoke()
	case 1:
		w.do("staple of the signer: revoked", func() {
			w.faults.SignerStaple = emulator.StapleRevoked
			w.f.emu.SetFaults(w.faults)
			w.noteSignerState()
		})
	case 2:
		w.rotate()
	default: // the service cannot read the staples: after revocation_check, no grant
		w.setDown("staples-503")
	}
	// A key pushed after the change: direct mode grants it when the signer was rotated, and so
	// must the service at once (a block that fails with the cached signer re-checks the chain).
	for _, user := range diffUsers[:2] {
		inWindow = append(inWindow, w.pushGood(user))
	}
	w.do("advance within revocation_check", func() { w.f.clk.Advance(diffWindow / 2) })
	for _, q := range inWindow {
		w.closingAsk(q, false)
	}
	w.do("advance past revocation_check", func() { w.f.clk.Advance(diffWindow/2 + time.Second) })
	for _, q := range inWindow {
		w.closingAsk(q, true)
	}
}

// pushGood pushes a good block valid for an hour and returns the question about its key.
func (w *world) pushGood(user string) lookup.Query {
	b := w.makeBlock(blockGood, time.Hour)
	w.blocks[user] = append(w.blocks[user], b)
	w.do(fmt.Sprintf("push for %s: good %s (gen %d, req %.8s)", user, b.key.pub.Type(), b.gen, b.request), func() { w.serve(user) })
	return lookup.Query{User: user, Fingerprint: &b.key.sha}
}

func (w *world) closingAsk(q lookup.Query, strict bool) {
	w.stats.counts["closing query"]++
	w.ask(q, strict)
}

// sameLines reports whether every key of missing is granted in got, under whatever push.
func sameLines(missing []keys.Accepted, got map[string]keys.Accepted) bool {
	for _, m := range missing {
		found := false
		for _, a := range got {
			if a.Line == m.Line {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
