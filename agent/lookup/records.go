package lookup

import (
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/audit"
	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/keys"
)

// Precheck looks at what each block claims before anything is fetched to verify it. When no
// block could pass (all expired, for another instance, malformed, or for another key than the
// one sshd asks about), it returns their rejections and false: the signer chain and staples
// need not be fetched, which saves most of a login's IMDS requests when a client offers several
// keys. When at least one block is a candidate it returns true, and every block is verified in
// full afterwards: nothing is accepted on a claim.
func Precheck(blocks []bundle.Block, instanceID string, now time.Time, fp *keys.Fingerprint) ([]keys.Rejected, bool) {
	rejected := make([]keys.Rejected, 0, len(blocks))
	for _, r := range keys.Precheck(blocks, instanceID, now, fp) {
		if r.Reason == "" {
			return nil, true
		}
		rejected = append(rejected, r)
	}
	return rejected, false
}

// Untrusted rejects every block of a bundle whose signer could not be trusted.
func Untrusted(blocks []bundle.Block, cause error) []keys.Rejected {
	out := make([]keys.Rejected, 0, len(blocks))
	for _, b := range blocks {
		r := keys.Rejected{Block: b.Index, Reason: keys.ReasonUntrustedSigner, Detail: cause.Error()}
		r.Caller, _ = b.Get("Caller")
		r.RequestID, _ = b.Get("Request")
		out = append(out, r)
	}
	return out
}

// Record writes the audit records of one lookup: every accepted key with upstream's wording,
// every rejected block with its reason (and one line counting those the service's answer did
// not itemise), and one line for a lookup that stopped early. A failed lookup's error is for the
// caller to report.
func Record(log *zap.Logger, res Result, err error) {
	switch {
	case err != nil:
	case res.Outcome == NoSuchUser:
		log.Info("user does not exist; nothing to look up", zap.String("user", res.User))
	case res.Outcome == NotEC2:
		log.Info("not an EC2 instance; EC2 Instance Connect is inactive", zap.String("reason", res.Detail))
	case res.Outcome == NoKeys:
		log.Debug("no EC2 Instance Connect keys for user", zap.String("user", res.User))
	}
	logAccepted(log, res.User, res.Accepted)
	logRejections(log, res.User, res.Rejected)
	logRejectedMore(log, res.User, res.RejectedMore)
}

func logAccepted(log *zap.Logger, user string, acc []keys.Accepted) {
	for _, a := range acc {
		audit.Accepted(log, audit.Grant{
			User:        user,
			Fingerprint: a.Fingerprint,
			RequestID:   a.RequestID,
			Caller:      a.Caller,
			InstanceID:  a.InstanceID,
			Expires:     a.Expires,
			KeyType:     keyType(a.Line),
		})
	}
}

func logRejections(log *zap.Logger, user string, rej []keys.Rejected) {
	for _, r := range rej {
		audit.Rejected(log, audit.Denial{
			User:        user,
			Block:       r.Block,
			Reason:      string(r.Reason),
			Detail:      r.Detail,
			Fingerprint: r.Fingerprint,
			RequestID:   r.RequestID,
			Caller:      r.Caller,
			Routine:     r.Reason == keys.ReasonFingerprintMismatch,
		})
	}
}

func logRejectedMore(log *zap.Logger, user string, more map[keys.Reason]int) {
	if len(more) == 0 {
		return
	}
	u := audit.Unlisted{User: user, Counts: make(map[string]int, len(more)), Routine: true}
	for r, n := range more {
		u.Counts[string(r)] = n
		u.Routine = u.Routine && r == keys.ReasonFingerprintMismatch
	}
	audit.RejectedMore(log, u)
}

func keyType(line string) string {
	t, _, _ := strings.Cut(line, " ")
	return t
}
