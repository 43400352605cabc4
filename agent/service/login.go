package service

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/signer"
	"github.com/eic-agent/eic-agent/agent/wire"
)

// Answer decides one query with lookup.Login, the pipeline direct mode runs too, over the
// service's caches: first from memory, when the same question was answered moments ago (sshd's
// signed attempt after its query) and that answer still stands, else from the warm source. It
// writes no audit record: the helper records the answer.
func (s *Service) Answer(ctx context.Context, q lookup.Query) (lookup.Result, error) {
	if m, ok := s.recall(q); ok {
		if res, err := lookup.Login(ctx, m, q, s.now); err == nil && len(res.Accepted) > 0 {
			return res, nil
		}
	}
	w := &warmLogin{s: s}
	res, err := lookup.Login(ctx, w, q, s.now)
	w.remember(q, res, err)
	return res, err
}

// Handle answers one wire request with Answer. A login that could not run because the service
// is going away is answered without a verdict, so the helper verifies directly instead of
// failing.
func (s *Service) Handle(ctx context.Context, req wire.Request) wire.Response {
	q := lookup.Query{User: req.User}
	if req.Fingerprint != "" {
		fp, err := keys.ParseFingerprint(req.Fingerprint)
		if err != nil { // wire validated it already; never guess
			return wire.Refusal(req.User, "%v", err)
		}
		q.Fingerprint = &fp
	}
	res, err := s.Answer(ctx, q)
	if errors.Is(err, errClosed) {
		return wire.Refusal(req.User, "%v; verify directly", err)
	}
	resp := wire.FromResult(res, err)
	resp.Status = s.status()
	return resp
}

// status says how fresh the cached signer is, for eic-agent doctor.
func (s *Service) status() *wire.Status {
	c := &s.signers
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return nil
	}
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.Unix()
	}
	return &wire.Status{SignerVerified: unix(c.cur.verified), StaplesRead: unix(c.cur.checked)}
}

// warmLogin is the service's lookup.Source for one login: the identity and signer from the
// caches, the bundle from a fetch shared with concurrent logins for the same user. It keeps
// which fetch and signer the login used, for the key memory.
type warmLogin struct {
	s     *Service
	fetch *keyFetch
	ent   *signerEntry
}

func (w *warmLogin) UserExists(ctx context.Context, user string) (bool, error) {
	return w.s.direct.UserExists(ctx, user)
}

func (w *warmLogin) Identity(ctx context.Context) (lookup.Identity, error) { return w.s.identity(ctx) }

// Bundle joins the fetch in flight for the user, or starts one. A joined fetch may have started
// before a key pushed just before this login, so its bundle may be stale: asked again with it,
// Bundle joins only a fetch started after it.
func (w *warmLogin) Bundle(ctx context.Context, user string, stale *lookup.Bundle) (*lookup.Bundle, error) {
	var prev *keyFetch
	if stale != nil {
		prev, _ = stale.Handle.(*keyFetch)
	}
	f, joined := w.s.fetch(user, prev)
	got, err := f.wait(ctx)
	if err != nil {
		return nil, w.s.closedErr(err)
	}
	w.fetch = f
	b := *got.bundle
	b.MayBeStale, b.Handle = joined && stale == nil, f
	return &b, nil
}

func (w *warmLogin) Signer(ctx context.Context) (*signer.Signer, error) {
	ent, err := w.s.signer(ctx)
	if err != nil {
		return nil, err
	}
	w.ent = ent
	return ent.sg, nil
}

// Recheck fetches the chain again when it was last fetched before the bundle: the signer may
// have rotated. Blocks that still fail with a chain fetched after them are genuinely bad (or
// signed by a retired signer, until they expire) and are remembered, so they do not make every
// login fetch the chain again.
func (w *warmLogin) Recheck(ctx context.Context, sg *signer.Signer, b *lookup.Bundle, bad [][32]byte) (*signer.Signer, error) {
	ent := w.ent
	f, _ := b.Handle.(*keyFetch)
	if ent == nil || ent.sg != sg || f == nil || ent.knowsBad(bad) {
		return sg, nil
	}
	if ent.confirmed.Load() < f.val.seq {
		next, err := w.s.recheckSigner(ctx, ent)
		switch {
		case err != nil && isDecision(err):
			return nil, err
		case err != nil:
			// The chain could not be fetched; the cached signer is still valid and its verdicts
			// stand (a block it cannot verify stays rejected). Try again next time.
			w.s.log.Warn("re-check of the signer chain failed; keeping the cached signer", zap.Error(err))
			return sg, nil
		case next != ent:
			w.ent = next
			return next.sg, nil
		}
	}
	if ent.confirmed.Load() >= f.val.seq {
		ent.markBad(bad)
	}
	return sg, nil
}

// remember records the login's answer in the key memory: accepted keys for the next repeat of
// the question, and a newer bundle without them supersedes what was remembered.
func (w *warmLogin) remember(q lookup.Query, res lookup.Result, err error) {
	if err != nil || w.fetch == nil {
		return
	}
	switch res.Outcome {
	case lookup.NoKeys, lookup.NoCandidates:
		w.s.memory.supersede(q.User, w.fetch.val.seq)
	case lookup.Verified:
		w.s.memory.update(q.User, w.fetch.val, w.ent, res.Accepted, q.Fingerprint, w.s.keyMemory())
	}
}

// memoryLogin is the lookup.Source for a repeat of a question already answered with an accepted
// key: the blocks and signer of that answer, the user as that fetch found them moments ago (so
// no second getent), and the identity. The blocks are judged again at the current time.
type memoryLogin struct {
	id     lookup.Identity
	blocks []bundle.Block
	ent    *signerEntry
}

// recall returns a memoryLogin when the same question (the same fingerprint; never one without) was
// answered with an accepted key from the remembered fetch, the memory has not expired, and the
// signer it was verified with is still the current, usable one.
func (s *Service) recall(q lookup.Query) (*memoryLogin, bool) {
	id := s.id.Load()
	if s.keyMemory() <= 0 || id == nil || !id.OnEC2 {
		return nil, false
	}
	now := s.now()
	blocks, ent, ok := s.memory.recall(q.User, q.Fingerprint, now)
	if !ok || ent != s.validSigner(now) {
		return nil, false
	}
	return &memoryLogin{id: *id, blocks: blocks, ent: ent}, true
}

func (m *memoryLogin) UserExists(context.Context, string) (bool, error) { return true, nil }

func (m *memoryLogin) Identity(context.Context) (lookup.Identity, error) { return m.id, nil }

func (m *memoryLogin) Bundle(context.Context, string, *lookup.Bundle) (*lookup.Bundle, error) {
	return &lookup.Bundle{Blocks: m.blocks, Found: true}, nil
}

func (m *memoryLogin) Signer(context.Context) (*signer.Signer, error) { return m.ent.sg, nil }

func (m *memoryLogin) Recheck(_ context.Context, sg *signer.Signer, _ *lookup.Bundle, _ [][32]byte) (*signer.Signer, error) {
	return sg, nil
}
