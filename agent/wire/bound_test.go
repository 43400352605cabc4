package wire

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// junkRejections is n rejections whose claims are as long as a bundle line may be and full of
// bytes JSON escapes, the worst a pusher can put in an answer.
func junkRejections(n int) []keys.Rejected {
	claim := strings.Repeat("<\x01\"", bundle.MaxLineLen/3)
	out := make([]keys.Rejected, n)
	for i := range out {
		reason := keys.ReasonBadSignature
		if i%2 == 1 {
			reason = keys.ReasonMalformed
		}
		out[i] = keys.Rejected{Block: i, Reason: reason, Detail: claim, Fingerprint: claim, Caller: claim, RequestID: claim}
	}
	return out
}

func TestAnswerBoundsRejections(t *testing.T) {
	k := testkit.Key(t, "")
	res := lookup.Result{Outcome: lookup.Verified, User: "alice", Accepted: []keys.Accepted{acceptedFor(k, bundle.MaxBlocks-1)},
		Rejected: junkRejections(bundle.MaxBlocks - 1)}
	data, err := encodeResponse(FromResult(res, nil))
	if err != nil {
		t.Fatal(err)
	}
	// Eight itemised rejections of four cut fields each, escaped at worst six times over.
	if limit := MaxRejectedItems * (4*6*MaxRejectedField + 512); len(data) > limit+4096 {
		t.Fatalf("answer of %d bytes for a bundle of junk; want at most %d", len(data), limit+4096)
	}
	resp, err := DecodeResponse(data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := resp.answers(Request{User: "alice"})
	if err != nil {
		t.Fatalf("the bounded answer is refused: %v", err)
	}
	if got.Lines() != testkit.Line(k)+"\n" {
		t.Errorf("granted %q; want the one good key", got.Lines())
	}
	if len(got.Rejected) != MaxRejectedItems {
		t.Errorf("%d rejections itemised; want %d", len(got.Rejected), MaxRejectedItems)
	}
	for i, rj := range got.Rejected {
		want := res.Rejected[i]
		if rj.Block != want.Block || rj.Reason != want.Reason {
			t.Errorf("itemised rejection %d is block %d (%s); want the bundle's first ones in order, block %d (%s)", i, rj.Block, rj.Reason, want.Block, want.Reason)
		}
		for _, field := range []string{rj.Detail, rj.Fingerprint, rj.Caller, rj.RequestID} {
			if len(field) > MaxRejectedField || !strings.HasSuffix(field, "...") || !utf8.ValidString(field) {
				t.Errorf("itemised rejection %d has a field of %d bytes ending %q; want it cut to %d bytes with \"...\"",
					i, len(field), field[max(0, len(field)-8):], MaxRejectedField)
			}
		}
	}
	want := map[keys.Reason]int{}
	for _, rj := range res.Rejected[MaxRejectedItems:] {
		want[rj.Reason]++
	}
	if diff := cmp.Diff(want, got.RejectedMore); diff != "" {
		t.Errorf("rejections counted per reason (-want +got):\n%s", diff)
	}
}

func TestAnswerKeepsEveryAcceptedKey(t *testing.T) {
	acc := make([]keys.Accepted, bundle.MaxBlocks)
	for i := range acc {
		acc[i] = acceptedFor(testkit.Key(t, ""), i)
		acc[i].Caller = strings.Repeat("arn:aws:iam::123456789012:user/<alice&bob>", 64)
	}
	data, err := encodeResponse(FromResult(lookup.Result{Outcome: lookup.Verified, User: "alice", Accepted: acc}, nil))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := DecodeResponse(data)
	if err != nil {
		t.Fatalf("answer of %d bytes: %v", len(data), err)
	}
	got, err := resp.Result()
	if err != nil || len(got.Accepted) != len(acc) {
		t.Fatalf("Result: %d keys, %v; want all %d", len(got.Accepted), err, len(acc))
	}
	if got.Accepted[0].Caller != acc[0].Caller {
		t.Errorf("caller of an accepted key changed on the way: %.80q", got.Accepted[0].Caller)
	}
	if strings.Contains(string(data), `\u003c`) {
		t.Error("the answer escapes '<' as HTML would, six bytes for one")
	}
}

func TestCutKeepsRunes(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"short-kept", "abc", "abc"},
		{"exact-kept", strings.Repeat("a", 8), strings.Repeat("a", 8)},
		{"long-cut-with-ellipsis", strings.Repeat("a", 9), "aaaaa..."},
		{"multibyte-kept-whole", "aaaé€x", "aaaé..."},
		{"multibyte-not-split", "aaaa€xy", "aaaa..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cut(tc.in, 8); got != tc.want {
				t.Errorf("cut(%q, 8) = %q; want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestResultRefusesUnboundedRejections: the helper holds a service to the bounds it keeps, so
// that a confused service cannot flood the audit log through it.
func TestResultRefusesUnboundedRejections(t *testing.T) {
	full := func() Response {
		return FromResult(lookup.Result{Outcome: lookup.Verified, User: "alice", Rejected: junkRejections(MaxRejectedItems + 3)}, nil)
	}
	tests := []struct {
		name string
		edit func(r *Response)
	}{
		{"too-many-itemised", func(r *Response) { r.Rejected = append(r.Rejected, r.Rejected[0]) }},
		{"long-caller", func(r *Response) { r.Rejected[0].Caller = strings.Repeat("c", MaxRejectedField+1) }},
		{"long-detail", func(r *Response) { r.Rejected[1].Detail = strings.Repeat("d", MaxRejectedField+1) }},
		{"long-reason", func(r *Response) { r.Rejected[2].Reason = strings.Repeat("r", maxReasonLen+1) }},
		{"counted-before-the-list-is-full", func(r *Response) { r.Rejected = r.Rejected[:1] }},
		{"zero-count", func(r *Response) { r.RejectedMore["expired"] = 0 }},
		{"empty-reason-counted", func(r *Response) { r.RejectedMore[""] = 1 }},
		{"too-many-reasons", func(r *Response) {
			for i := range maxRejectedReasons {
				r.RejectedMore[strings.Repeat("x", i+1)] = 1
			}
		}},
	}
	if _, err := full().Result(); err != nil {
		t.Fatalf("unedited answer refused: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name+"-refused", func(t *testing.T) {
			r := full()
			tc.edit(&r)
			if _, err := r.Result(); !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("Result: %v; want ErrInvalidResponse", err)
			}
		})
	}
}
