package audit

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Grant is one key handed to sshd. Every value comes from a block whose
// signature verified.
type Grant struct {
	User        string
	Fingerprint string // SHA256:...
	RequestID   string
	Caller      string // IAM principal ARN
	InstanceID  string
	Expires     time.Time
	KeyType     string // ssh-ed25519, ssh-rsa, ...
}

// Accepted logs g at info level with upstream's exact message, so parsers
// written for ec2-instance-connect keep matching, plus structured fields.
func Accepted(log *zap.Logger, g Grant) {
	if log == nil {
		return
	}
	log.Info(
		fmt.Sprintf("Providing ssh key from EC2 Instance Connect with fingerprint: %s, request-id: %s, for IAM principal: %s",
			g.Fingerprint, g.RequestID, g.Caller),
		zap.String("user", g.User),
		zap.String("fingerprint", g.Fingerprint),
		zap.String("request_id", g.RequestID),
		zap.String("caller", g.Caller),
		zap.String("instance_id", g.InstanceID),
		zap.String("expires", g.Expires.UTC().Format(time.RFC3339)),
		zap.String("key_type", g.KeyType),
		zap.String("event", "accept"),
	)
}

// Denial is one block that gave sshd no key.
// Fingerprint, RequestID and Caller are as the block claimed them: unverified
// unless its signature passed, so they are leads for an investigation, not
// facts.
type Denial struct {
	User        string
	Block       int    // 0-based index in the bundle; logged as block = Block+1, as --explain numbers it
	Reason      string // a typed reason's string, e.g. "expired"
	Detail      string // one line for the operator
	Fingerprint string
	RequestID   string
	Caller      string
	// Routine marks a rejection that is part of a normal login, such as a pushed key that is
	// not the one the client is offering right now (clients offer their keys one by one). It
	// is logged at info level, so that warn stays for what an operator should look at.
	Routine bool
}

// Rejected logs d at warn level (info when Routine). The message is
// "Rejected EC2 Instance Connect key for USER: REASON (DETAIL)", without the
// parenthesis when Detail is empty.
func Rejected(log *zap.Logger, d Denial) {
	if log == nil {
		return
	}
	msg := fmt.Sprintf("Rejected EC2 Instance Connect key for %s: %s", d.User, d.Reason)
	if d.Detail != "" {
		msg += " (" + d.Detail + ")"
	}
	level := zap.WarnLevel
	if d.Routine {
		level = zap.InfoLevel
	}
	log.Log(level, msg,
		zap.String("user", d.User),
		// 1-based, so that "block=2" here and "block 2 (line N)" in verify --explain are the
		// same block of the bundle.
		zap.Int("block", d.Block+1),
		zap.String("reason", d.Reason),
		zap.String("detail", d.Detail),
		zap.String("fingerprint", d.Fingerprint),
		zap.String("request_id", d.RequestID),
		zap.String("caller", d.Caller),
		zap.String("event", "reject"),
	)
}

// Unlisted is the rejected blocks of one lookup that were counted but not listed one by one
// (the service's answer itemises only the first few), as reason -> count.
type Unlisted struct {
	User   string
	Counts map[string]int
	// Routine: every one of them is routine (see Denial.Routine).
	Routine bool
}

// RejectedMore logs u as one record at warn level (info when Routine): "Rejected N more EC2
// Instance Connect keys for USER: REASON=COUNT, ... (not itemised)".
func RejectedMore(log *zap.Logger, u Unlisted) {
	if log == nil || len(u.Counts) == 0 {
		return
	}
	reasons := make([]string, 0, len(u.Counts))
	total := 0
	for r, n := range u.Counts {
		reasons = append(reasons, r)
		total += n
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%s=%d", r, u.Counts[r])
	}
	summary := strings.Join(parts, ", ")
	level := zap.WarnLevel
	if u.Routine {
		level = zap.InfoLevel
	}
	log.Log(level, fmt.Sprintf("Rejected %d more EC2 Instance Connect keys for %s: %s (not itemised)", total, u.User, summary),
		zap.String("user", u.User),
		zap.Int("count", total),
		zap.String("reasons", summary),
		zap.String("event", "reject"),
	)
}
