package wire

import (
	"fmt"
	"unicode/utf8"

	"github.com/eic-agent/eic-agent/agent/keys"
)

// Bounds on what an answer says about rejected blocks. A rejected block's fields are unverified
// claims that anyone who can push keys (or put junk in front of IMDS) controls: copied whole, a
// 1 MiB bundle of junk blocks makes an answer several times that size, which the service could
// not send. The answer itemises the first MaxRejectedItems rejections with each text field cut
// to MaxRejectedField bytes and only counts the rest per reason; accepted keys are never cut.
const (
	MaxRejectedItems = 8
	MaxRejectedField = 256
	// maxRejectedReasons bounds the per-reason counts: keys defines about a dozen reasons.
	maxRejectedReasons = 32
	maxReasonLen       = 64
)

// boundRejected is FromResult's half for rejections: the first MaxRejectedItems, cut, and the
// count per reason of the rest.
func boundRejected(rej []keys.Rejected) ([]RejectedBlock, map[string]int) {
	var (
		items []RejectedBlock
		more  map[string]int
	)
	for i, rj := range rej {
		if i >= MaxRejectedItems {
			if more == nil {
				more = make(map[string]int)
			}
			more[cut(string(rj.Reason), maxReasonLen)]++
			continue
		}
		items = append(items, RejectedBlock{
			Block:       rj.Block,
			Reason:      cut(string(rj.Reason), maxReasonLen),
			Detail:      cut(rj.Detail, MaxRejectedField),
			Fingerprint: cut(rj.Fingerprint, MaxRejectedField),
			Caller:      cut(rj.Caller, MaxRejectedField),
			RequestID:   cut(rj.RequestID, MaxRejectedField),
		})
	}
	return items, more
}

// checkRejected refuses rejections beyond the bounds the service keeps to: more is only there
// when the list is full, and nothing is longer than the service would send.
func (r Response) checkRejected() error {
	if len(r.Rejected) > MaxRejectedItems {
		return fmt.Errorf("%d rejected blocks itemised, more than %d", len(r.Rejected), MaxRejectedItems)
	}
	for i, rj := range r.Rejected {
		switch {
		case rj.Reason == "":
			return fmt.Errorf("rejected block %d has no reason", i)
		case len(rj.Reason) > maxReasonLen:
			return fmt.Errorf("rejected block %d: reason longer than %d bytes", i, maxReasonLen)
		case len(rj.Detail) > MaxRejectedField || len(rj.Fingerprint) > MaxRejectedField ||
			len(rj.Caller) > MaxRejectedField || len(rj.RequestID) > MaxRejectedField:
			return fmt.Errorf("rejected block %d: a field longer than %d bytes", i, MaxRejectedField)
		}
	}
	if len(r.RejectedMore) == 0 {
		return nil
	}
	if len(r.Rejected) < MaxRejectedItems {
		return fmt.Errorf("rejections counted but not itemised while only %d are", len(r.Rejected))
	}
	if len(r.RejectedMore) > maxRejectedReasons {
		return fmt.Errorf("%d reasons counted, more than %d", len(r.RejectedMore), maxRejectedReasons)
	}
	for reason, n := range r.RejectedMore {
		if reason == "" || len(reason) > maxReasonLen || n < 1 {
			return fmt.Errorf("rejection count %.64q = %d is out of shape", reason, n)
		}
	}
	return nil
}

// cut returns s shortened to at most n bytes, on a rune boundary and ending in "..." when it
// was shortened.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "..."
	end := n - len(ellipsis)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + ellipsis
}
