package service

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
)

// keyFetch is one fetch of a user's key bundle, shared by the requests that wait for it.
type keyFetch struct {
	done   chan struct{}
	blocks []bundle.Block
	found  bool
	err    error
	seq    uint64    // Service.seq once the answer arrived
	at     time.Time // the service clock once the answer arrived
}

// fetchGroup holds the fetch in flight per user.
type fetchGroup struct {
	mu    sync.Mutex
	m     map[string]*keyFetch
	joins int // requests that joined a fetch already in flight (observed by tests)
}

func (g *fetchGroup) init() { g.m = map[string]*keyFetch{} }

// fetch returns the fetch in flight for user, or starts one. prev, when not nil, is a fetch the
// caller already waited for and found too old: the caller joins only a fetch started after it.
func (s *Service) fetch(user string, prev *keyFetch) (*keyFetch, bool) {
	g := &s.fetches
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.m[user]; f != nil && f != prev {
		g.joins++
		return f, true
	}
	f := &keyFetch{done: make(chan struct{})}
	started := s.goBackground(func(base context.Context) {
		// The fetch runs on the service's context, not the first requester's: the others waiting
		// for it must not fail because that one went away.
		ctx, cancel := context.WithTimeout(base, s.deadline)
		defer cancel()
		f.blocks, f.found, f.err = lookup.FetchBlocks(ctx, s.lcfg, user)
		f.seq, f.at = s.seq.Add(1), s.now()
		g.mu.Lock()
		if g.m[user] == f {
			delete(g.m, user)
		}
		g.mu.Unlock()
		close(f.done)
	})
	if !started {
		f.err = errClosed
		close(f.done)
		return f, false
	}
	g.m[user] = f
	return f, false
}

// fetchAndDecide fetches the user's bundle (sharing a fetch already in flight) and decides. A
// fetch that was already in flight when the request arrived may predate a key pushed just before
// it: unless its answer has the very key asked about, a fresh fetch is made.
func (s *Service) fetchAndDecide(ctx context.Context, res lookup.Result, id lookup.Identity, fp *keys.Fingerprint) (lookup.Result, error) {
	f, joined := s.fetch(res.User, nil)
	out, err := s.await(ctx, f, res, id, fp)
	if !joined || err != nil || (fp != nil && len(out.Accepted) > 0) {
		return out, err
	}
	f, _ = s.fetch(res.User, f)
	return s.await(ctx, f, res, id, fp)
}

func (s *Service) await(ctx context.Context, f *keyFetch, res lookup.Result, id lookup.Identity, fp *keys.Fingerprint) (lookup.Result, error) {
	select {
	case <-f.done:
	case <-ctx.Done():
		return res, ctx.Err()
	}
	return s.decide(ctx, f, res, id, fp)
}

// decide evaluates a fetched bundle as direct mode does, with the cached signer.
func (s *Service) decide(ctx context.Context, f *keyFetch, res lookup.Result, id lookup.Identity, fp *keys.Fingerprint) (lookup.Result, error) {
	if f.err != nil {
		return res, s.closedErr(f.err)
	}
	if !f.found {
		s.memory.supersede(res.User, f.seq)
		res.Outcome = lookup.NoKeys
		return res, nil
	}
	res.Blocks = f.blocks
	now := s.now()
	if pre, candidate := lookup.Precheck(f.blocks, id.InstanceID, now, fp); !candidate {
		s.memory.supersede(res.User, f.seq)
		res.Outcome, res.Rejected = lookup.NoCandidates, pre
		return res, nil
	}
	ent, err := s.signer(ctx)
	if err != nil {
		res.Rejected = lookup.Untrusted(f.blocks, err)
		return res, err
	}
	out := lookup.Decide(res, ent.sg, id.InstanceID, now, fp)
	if bad := badlySigned(out.Rejected, f.blocks); len(bad) > 0 && !ent.knowsBad(bad) {
		if ent.confirmed.Load() < f.seq {
			// The chain was last fetched before these blocks were: the signer may have rotated.
			next, err := s.recheckSigner(ctx, ent)
			switch {
			case err != nil && isDecision(err):
				res.Rejected = lookup.Untrusted(f.blocks, err)
				return res, err
			case err != nil:
				// The chain could not be fetched; the cached signer is still valid and its
				// verdicts stand (a block it cannot verify stays rejected). Try again next time.
				s.log.Warn("re-check of the signer chain failed; keeping the cached signer", zap.Error(err))
				s.memory.update(res.User, f, ent, out.Accepted, fp, s.keyMemory)
				return out, nil
			case next != ent:
				ent, now = next, s.now()
				out = lookup.Decide(res, ent.sg, id.InstanceID, now, fp)
			}
		}
		if ent.confirmed.Load() >= f.seq {
			// The chain was fetched after these blocks: what still fails is genuinely bad.
			ent.markBad(badlySigned(out.Rejected, f.blocks))
		}
	}
	s.memory.update(res.User, f, ent, out.Accepted, fp, s.keyMemory)
	return out, nil
}

// badlySigned returns digests of the blocks rejected for their signature.
func badlySigned(rej []keys.Rejected, blocks []bundle.Block) [][32]byte {
	var out [][32]byte
	for _, r := range rej {
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
