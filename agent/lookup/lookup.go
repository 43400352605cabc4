// Package lookup decides one login: which EC2 Instance Connect keys sshd may accept for a user.
//
// Login is the only place that orders a login's checks. It asks a Source for the facts (does the
// user exist, is this an EC2 instance and which, the user's key blocks, a trusted signer) in this
// order, stops at the first that rules every key out, and judges every block against the signer
// with keys.Evaluate. Three sources exist: Direct reads the system and IMDS on every call (the
// helper alone); the warm service (agent/service) answers from its caches and fetches through
// Direct's methods; a saved case (eic-authorized-keys verify) answers from files. None can skip
// or reorder a step, so the service's promise that cached state never accepts what direct mode
// would reject rests on one function.
//
// Contract: a key is returned only when every check of SPEC.md passed; any doubt ends in an
// error or a rejection. Nothing here prints or records: the caller writes the accepted keys out
// and records the Result once (Result.Record), whichever source produced it.
package lookup

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/signer"
)

// Query is what sshd asks: the keys of User, only the one with Fingerprint when it is set.
type Query struct {
	User        string
	Fingerprint *keys.Fingerprint
}

// Source answers the questions of one login. Implementations may cache, share fetches between
// logins and fail; they never decide about a key: Login does.
type Source interface {
	// UserExists says whether the account exists (NSS). The name is already validated.
	UserExists(ctx context.Context, user string) (bool, error)
	// Identity says whether this host is an EC2 instance, and which.
	Identity(ctx context.Context) (Identity, error)
	// Bundle returns the user's key blocks. stale, when not nil, is a bundle this login judged
	// and found wanting while it may predate a key pushed just before (Bundle.MayBeStale): the
	// source then returns one fetched after it.
	Bundle(ctx context.Context, user string, stale *Bundle) (*Bundle, error)
	// Signer returns a signer trusted now. A refusal is an error that says why.
	Signer(ctx context.Context) (*signer.Signer, error)
	// Recheck is asked when blocks of b failed their signature under sg (bad holds a digest of
	// each): the signer may have rotated since it was verified. It returns sg when nothing
	// changed (or the chain could not be fetched: the source logs that, and sg's verdicts
	// stand), a newly verified signer when the chain changed, and an error only when the signer
	// is now refused. Given a new signer, it is asked once more about the blocks that still fail
	// with that one.
	Recheck(ctx context.Context, sg *signer.Signer, b *Bundle, bad [][32]byte) (*signer.Signer, error)
}

// Identity is what the host is: an EC2 instance with an id, or not one at all.
type Identity struct {
	OnEC2      bool
	InstanceID string
	// Reason says why the host is not taken for an instance.
	Reason string
}

// Bundle is a user's key bundle as a Source fetched it.
type Bundle struct {
	Blocks []bundle.Block
	Found  bool // false: IMDS has no keys for the user
	// MayBeStale: the bundle may predate a key pushed just before the login (it comes from a
	// fetch another login started). Login asks for a newer one when it accepts nothing from it.
	MayBeStale bool
	// Handle is the source's own, for its bookkeeping.
	Handle any
}

// Login decides q with what src says, in the one order every path follows: the user name, the
// account, the platform and instance, the bundle, a look at what each block claims (when no
// block could pass, no signer is needed), the signer, and the verdict on every block. It returns
// how far it went; an error means the verification could not complete (Result.Rejected then
// says so per block when a bundle was fetched).
func Login(ctx context.Context, src Source, q Query, now func() time.Time) (Result, error) {
	res := Result{User: q.User}
	if err := ValidateUser(q.User); err != nil {
		return res, err
	}
	exists, err := src.UserExists(ctx, q.User)
	if err != nil {
		return res, fmt.Errorf("look up user %q: %w", q.User, err)
	}
	if !exists {
		res.Outcome = NoSuchUser
		return res, nil
	}
	id, err := src.Identity(ctx)
	if err != nil {
		return res, err
	}
	if !id.OnEC2 {
		res.Outcome, res.Detail = NotEC2, id.Reason
		return res, nil
	}
	b, err := src.Bundle(ctx, q.User, nil)
	if err != nil {
		return res, err
	}
	out, err := judgeBundle(ctx, src, res, id, b, q.Fingerprint, now)
	if err == nil && b.MayBeStale && (q.Fingerprint == nil || len(out.Accepted) == 0) {
		if b, err = src.Bundle(ctx, q.User, b); err != nil {
			return res, err
		}
		out, err = judgeBundle(ctx, src, res, id, b, q.Fingerprint, now)
	}
	return out, err
}

// judgeBundle takes a fetched bundle from the claims to the verdicts.
func judgeBundle(ctx context.Context, src Source, res Result, id Identity, b *Bundle, fp *keys.Fingerprint, now func() time.Time) (Result, error) {
	res.Bundle = b
	if !b.Found {
		res.Outcome = NoKeys
		return res, nil
	}
	if pre, candidate := precheck(b.Blocks, id.InstanceID, now(), fp); !candidate {
		res.Outcome, res.Rejected = NoCandidates, pre
		return res, nil
	}
	sg, err := src.Signer(ctx)
	if err != nil {
		res.Rejected = untrusted(b.Blocks, err)
		return res, err
	}
	out := judge(res, sg, id.InstanceID, now(), fp)
	// A re-check that finds a new signer hears once more about what still fails with that one,
	// so the source can remember those blocks as bad.
	for range 2 {
		bad := badlySigned(out)
		if len(bad) == 0 {
			break
		}
		next, err := src.Recheck(ctx, sg, b, bad)
		if err != nil {
			res.Rejected = untrusted(b.Blocks, err)
			return res, err
		}
		if next == sg {
			break
		}
		sg = next
		out = judge(res, sg, id.InstanceID, now(), fp)
	}
	return out, nil
}

// judge is the verdict on every block of res.Bundle with a trusted signer: the decision every
// login ends in.
func judge(res Result, sg *signer.Signer, instanceID string, now time.Time, fp *keys.Fingerprint) Result {
	res.Signer = sg
	res.Outcome = Verified
	res.Accepted, res.Rejected = keys.Evaluate(keys.Input{
		Blocks:      res.Bundle.blocks(),
		SignerKey:   sg.Key,
		InstanceID:  instanceID,
		Now:         now,
		Fingerprint: fp,
	})
	return res
}

// precheck looks at what each block claims before anything is fetched to verify it. When no
// block could pass (all expired, for another instance, malformed, or for another key than the
// one sshd asks about), it returns their rejections and false: the signer chain and staples
// need not be fetched, which saves most of a login's IMDS requests when a client offers several
// keys. When at least one block is a candidate it returns true, and every block is verified in
// full afterwards: nothing is accepted on a claim.
func precheck(blocks []bundle.Block, instanceID string, now time.Time, fp *keys.Fingerprint) ([]keys.Rejected, bool) {
	rejected := make([]keys.Rejected, 0, len(blocks))
	for _, r := range keys.Precheck(blocks, instanceID, now, fp) {
		if r.Reason == "" {
			return nil, true
		}
		rejected = append(rejected, r)
	}
	return rejected, false
}

// untrusted rejects every block of a bundle whose signer could not be trusted.
func untrusted(blocks []bundle.Block, cause error) []keys.Rejected {
	out := make([]keys.Rejected, 0, len(blocks))
	for _, b := range blocks {
		r := keys.Rejected{Block: b.Index, Reason: keys.ReasonUntrustedSigner, Detail: cause.Error()}
		r.Caller, _ = b.Get(bundle.FieldCaller)
		r.RequestID, _ = b.Get(bundle.FieldRequest)
		out = append(out, r)
	}
	return out
}

// badlySigned returns a digest of each block of res.Bundle rejected for its signature, so a
// source can tell blocks it has seen fail before.
func badlySigned(res Result) [][32]byte {
	blocks := res.Bundle.blocks()
	var out [][32]byte
	for _, r := range res.Rejected {
		if r.Reason != keys.ReasonBadSignature || r.Block < 0 || r.Block >= len(blocks) || blocks[r.Block].Index != r.Block {
			continue
		}
		b := blocks[r.Block]
		h := sha256.New()
		h.Write(b.Signed)
		h.Write([]byte{0})
		h.Write(b.Signature)
		var d [32]byte
		h.Sum(d[:0])
		out = append(out, d)
	}
	return out
}

func (b *Bundle) blocks() []bundle.Block {
	if b == nil {
		return nil
	}
	return b.Blocks
}

// Lines returns the accepted keys as authorized_keys lines, each ending in a newline.
func (r Result) Lines() string {
	var b strings.Builder
	for _, a := range r.Accepted {
		b.WriteString(a.Line)
		b.WriteByte('\n')
	}
	return b.String()
}
