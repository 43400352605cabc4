package lookup

import (
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/audit"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/signer"
)

// Outcome says how far a login went. What each one means for sshd and the audit log is said
// here and in Result.Record, nowhere else.
type Outcome int

// Outcomes of a login that ran to its end (errors are separate).
const (
	// Verified: the bundle was judged against a trusted signer; Accepted may still be empty.
	Verified Outcome = iota
	// NoSuchUser: NSS does not know the user; nothing was fetched.
	NoSuchUser
	// NotEC2: this host is not an EC2 instance; nothing was trusted.
	NotEC2
	// NoKeys: IMDS has no keys for the user.
	NoKeys
	// NoCandidates: keys exist, but no block could pass (expired, other instance, other key), so
	// no signer was needed.
	NoCandidates
)

var outcomeNames = [...]string{"verified", "no-such-user", "not-ec2", "no-keys", "no-candidates"}

func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// MarshalText writes the outcome's name; an unknown outcome is an error.
func (o Outcome) MarshalText() ([]byte, error) {
	if o < 0 || int(o) >= len(outcomeNames) {
		return nil, fmt.Errorf("unknown outcome %d", int(o))
	}
	return []byte(outcomeNames[o]), nil
}

// UnmarshalText reads an outcome's name; anything else is an error.
func (o *Outcome) UnmarshalText(b []byte) error {
	for i, n := range outcomeNames {
		if n == string(b) {
			*o = Outcome(i)
			return nil
		}
	}
	return fmt.Errorf("unknown outcome %.64q", b)
}

// Result is what a login decided.
type Result struct {
	Outcome  Outcome
	User     string
	Accepted []keys.Accepted
	Rejected []keys.Rejected
	// RejectedMore counts, per reason, rejected blocks that Rejected does not list: an answer of
	// the service itemises only the first few. A login judged here lists all.
	RejectedMore map[keys.Reason]int
	// Signer is the signer the bundle was judged with, when one was needed.
	Signer *signer.Signer
	// Bundle is the bundle judged, when one was fetched.
	Bundle *Bundle
	// Detail explains NotEC2.
	Detail string
}

// Record writes the audit records of one login, once, whichever path decided it: every
// accepted key with upstream's wording, every rejected block with its reason (and one line
// counting those an answer did not itemise), and one line for a login that stopped early. A
// failed login's error (err) is for the caller to report with its own context.
func (r Result) Record(log *zap.Logger, err error) {
	switch {
	case err != nil:
	case r.Outcome == NoSuchUser:
		log.Info("user does not exist; nothing to look up", zap.String("user", r.User))
	case r.Outcome == NotEC2:
		log.Info("not an EC2 instance; EC2 Instance Connect is inactive", zap.String("reason", r.Detail))
	case r.Outcome == NoKeys:
		log.Debug("no EC2 Instance Connect keys for user", zap.String("user", r.User))
	}
	for _, a := range r.Accepted {
		audit.Accepted(log, audit.Grant{
			User:        r.User,
			Fingerprint: a.Fingerprint,
			RequestID:   a.RequestID,
			Caller:      a.Caller,
			InstanceID:  a.InstanceID,
			Expires:     a.Expires,
			KeyType:     keyType(a.Line),
		})
	}
	for _, rj := range r.Rejected {
		audit.Rejected(log, audit.Denial{
			User:        r.User,
			Block:       rj.Block,
			Reason:      string(rj.Reason),
			Detail:      rj.Detail,
			Fingerprint: rj.Fingerprint,
			RequestID:   rj.RequestID,
			Caller:      rj.Caller,
			Routine:     rj.Reason == keys.ReasonFingerprintMismatch,
		})
	}
	if len(r.RejectedMore) > 0 {
		u := audit.Unlisted{User: r.User, Counts: make(map[string]int, len(r.RejectedMore)), Routine: true}
		for reason, n := range r.RejectedMore {
			u.Counts[string(reason)] = n
			u.Routine = u.Routine && reason == keys.ReasonFingerprintMismatch
		}
		audit.RejectedMore(log, u)
	}
}

func keyType(line string) string {
	t, _, _ := strings.Cut(line, " ")
	return t
}
