package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/signer"
)

// signerEntry is one verified signer and the chain document and staples it was verified from.
type signerEntry struct {
	sg       *signer.Signer
	chain    []byte
	staples  [][]byte  // DER, in listing order
	verified time.Time // service clock
	// checked is when the latest staple read that found these staples began (service clock);
	// signerCache.mu guards it. Keys are granted with this signer only while it is recent.
	checked time.Time
	// confirmed is the Service.seq of the latest chain fetch that served these bytes. A block
	// fetched before that was signed by this signer or an older one.
	confirmed atomic.Uint64

	// bad holds digests of blocks whose signature failed with this signer although the chain
	// was fetched after them: they are genuinely bad (or signed by a retired signer, until they
	// expire), so they need not make every login fetch the chain again.
	badMu sync.Mutex
	bad   map[[32]byte]bool
}

// maxKnownBad bounds signerEntry.bad; past it, further bad blocks are simply not remembered.
const maxKnownBad = 256

func (e *signerEntry) knowsBad(digests [][32]byte) bool {
	e.badMu.Lock()
	defer e.badMu.Unlock()
	for _, d := range digests {
		if !e.bad[d] {
			return false
		}
	}
	return true
}

func (e *signerEntry) markBad(digests [][32]byte) {
	e.badMu.Lock()
	defer e.badMu.Unlock()
	if e.bad == nil {
		e.bad = map[[32]byte]bool{}
	}
	for _, d := range digests {
		if len(e.bad) >= maxKnownBad {
			return
		}
		e.bad[d] = true
	}
}

func (e *signerEntry) confirm(seq uint64) {
	for {
		old := e.confirmed.Load()
		if old >= seq || e.confirmed.CompareAndSwap(old, seq) {
			return
		}
	}
}

// signerWork is what a signer flight does.
type signerWork int

const (
	// verifyFull fetches the chain and the staples and verifies them.
	verifyFull signerWork = iota
	// recheckChain fetches the chain because a block failed its signature with the cached
	// signer; it verifies only when the chain changed (the signer rotated).
	recheckChain
	// checkStaples re-reads the staples (the revocation check); it verifies only when they
	// changed.
	checkStaples
)

// signerFlight is one verification in progress, shared by everyone who needs its result.
type signerFlight = flight[*signerEntry]

// signerCache holds the current signer and the verifications in progress. Its group's mutex
// guards cur and every entry's checked; its generation counts invalidations: a flight that
// started before the last one (the trust store changed meanwhile) never installs its result.
type signerCache struct {
	group[signerWork, *signerEntry]
	cur *signerEntry
}

// untrustedError marks a verification that ran and refused the signer, as opposed to a fetch
// that failed: the first drops the cached signer, the second keeps a still valid one.
type untrustedError struct{ err error }

func (e *untrustedError) Error() string { return e.err.Error() }
func (e *untrustedError) Unwrap() error { return e.err }

func isDecision(err error) bool {
	var u *untrustedError
	return errors.As(err, &u)
}

// usable reports whether e may be used at now without verifying again.
func (s *Service) usable(e *signerEntry, now time.Time) bool {
	return e != nil &&
		now.Before(e.sg.NotAfter) &&
		(e.sg.NextUpdate.IsZero() || now.Before(e.sg.NextUpdate)) &&
		now.Sub(e.verified) < s.maxAge() &&
		!now.Before(e.verified.Add(-signer.ClockSkew)) // the clock went back: re-verify
}

// validSigner returns the current signer when it is usable at now and its staples were read
// recently enough to grant keys with it, else nil.
func (s *Service) validSigner(now time.Time) *signerEntry {
	c := &s.signers
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.usable(c.cur, now) && s.fresh(c.cur, now) {
		return c.cur
	}
	return nil
}

// signer returns a usable signer, verifying one when the cached one is missing, stale, or
// overdue for its revocation check: a revocation since the last read must not be missed, so the
// request then waits for a fresh read.
func (s *Service) signer(ctx context.Context) (*signerEntry, error) {
	c := &s.signers
	for {
		c.mu.Lock()
		now := s.now()
		if s.usable(c.cur, now) && s.fresh(c.cur, now) {
			e := c.cur
			c.mu.Unlock()
			return e, nil
		}
		f, work := c.joinable(verifyFull), verifyFull
		if f == nil {
			f, work = s.startCheck(now)
		}
		c.mu.Unlock()
		ent, err := f.wait(ctx)
		switch {
		case work == verifyFull:
			// A verification that just succeeded is good for this request even when its staple
			// is already inside the skew window and so not worth caching.
			return ent, s.closedErr(err)
		case err != nil:
			// The staples could not be read (or now refuse the signer): the cached signer is
			// overdue for a check, so no key is granted with it, as direct mode would not.
			return nil, s.closedErr(err)
		}
		// The check settled the cache one way or the other; look again.
	}
}

// recheckSigner fetches the chain again because a block failed to verify with old (warmLogin.Recheck
// decides when). It returns old when the chain is unchanged, the newly verified signer when it
// changed. A verification already in progress is joined instead.
func (s *Service) recheckSigner(ctx context.Context, old *signerEntry) (*signerEntry, error) {
	c := &s.signers
	c.mu.Lock()
	if c.cur != old {
		c.mu.Unlock()
		return s.signer(ctx)
	}
	f := c.joinable(verifyFull, checkStaples, recheckChain)
	if f == nil {
		f = s.startSignerFlight(recheckChain, old)
	}
	c.mu.Unlock()
	ent, err := f.wait(ctx)
	return ent, s.closedErr(err)
}

// Refresh verifies the signer again now, whatever the cache holds (a full verification already
// in progress is joined). A refusal drops the cached signer; a failed fetch keeps it while it is
// valid.
func (s *Service) Refresh(ctx context.Context) error {
	c := &s.signers
	c.mu.Lock()
	f := c.joinable(verifyFull)
	if f == nil {
		f = s.startSignerFlight(verifyFull, nil)
	}
	c.mu.Unlock()
	_, err := f.wait(ctx)
	return s.closedErr(err)
}

// InvalidateSigner drops the cached signer and everything verified with it.
func (s *Service) InvalidateSigner(reason string) {
	c := &s.signers
	c.mu.Lock()
	c.gen++
	c.cur = nil
	c.mu.Unlock()
	s.memory.forget()
	s.log.Info("cached signer dropped; it is verified again before the next use", zap.String("reason", reason))
	s.poke(s.kick)
}

// startSignerFlight starts a verification of the given kind; old is the cached signer a re-check
// or check starts from. c.mu is held.
func (s *Service) startSignerFlight(work signerWork, old *signerEntry) *signerFlight {
	c := &s.signers
	var started time.Time // service clock, before the first fetch
	return c.start(s, work, func(ctx context.Context) (*signerEntry, error) {
		started = s.now()
		return s.verifySigner(ctx, work, old, started)
	}, func(f *signerFlight, current bool) func() {
		return s.settleSigner(f, current, work, old, started)
	})
}

// settleSigner installs a flight's verdict in the cache (c.mu is held) and returns what to log
// once its waiters are released.
func (s *Service) settleSigner(f *signerFlight, current bool, work signerWork, old *signerEntry, started time.Time) func() {
	c := &s.signers
	ent, err := f.val, f.err
	prev := c.cur
	switch {
	case !current:
	case err == nil && old != nil && ent == old && prev != old:
		// A re-check found the chain it knew while another verification replaced or refused
		// the signer: that verdict is newer.
		if prev != nil {
			ent = prev
		} else {
			ent, err = nil, &untrustedError{errors.New("untrusted signer: refused by a concurrent verification")}
		}
	case err == nil:
		c.cur = ent
		if work == checkStaples && ent == old && started.After(ent.checked) {
			ent.checked = started
		}
	case isDecision(err):
		c.cur = nil
	}
	f.val, f.err = ent, err
	return func() { s.logSigner(current, work, ent, prev, err) }
}

// logSigner says what a signer flight changed.
func (s *Service) logSigner(current bool, work signerWork, ent, prev *signerEntry, err error) {
	switch {
	case !current:
		s.log.Debug("discarding a signer verification that started before the trust store changed")
		return
	case err == nil && ent == prev && work == checkStaples:
		s.log.Debug("signer staples unchanged", zap.String("signer", ent.sg.Chain[0].Subject.CommonName))
		return
	case err == nil && ent == prev:
		s.log.Debug("signer chain unchanged", zap.String("signer", ent.sg.Chain[0].Subject.CommonName))
		return
	case err == nil:
		s.memory.forget()
		msg := "signer verified"
		if prev != nil && !bytes.Equal(prev.chain, ent.chain) {
			msg = "signer changed; new signer verified"
		} else if prev != nil {
			msg = "signer re-verified"
		}
		s.log.Info(msg,
			zap.String("signer", ent.sg.Chain[0].Subject.CommonName),
			zap.String("serial", ent.sg.Chain[0].SerialNumber.Text(16)),
			zap.Time("staples_next_update", ent.sg.NextUpdate),
			zap.Time("not_after", ent.sg.NotAfter))
	case isDecision(err):
		s.memory.forget()
		s.log.Error("signer verification failed; no EC2 Instance Connect key is accepted until it verifies", zap.Error(err))
	case work == checkStaples:
		s.log.Warn("reading the signer's staples failed; once the last successful read is older than service.revocation_check, logins get no key until a read succeeds; will try again",
			zap.Error(err), zap.Duration("revocation_check", s.checkEvery()))
	default:
		s.log.Warn("fetching the signer failed; will try again", zap.Error(err))
	}
	s.poke(s.kick)
}

// verifySigner fetches what work needs and verifies it. A re-check fetches the chain first, a
// check the staples, and stops there when they are what old was verified from.
func (s *Service) verifySigner(ctx context.Context, work signerWork, old *signerEntry, started time.Time) (*signerEntry, error) {
	place, err := s.placement(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch placement: %w", err)
	}
	seq := s.seq.Add(1)
	var chain []byte
	var staples [][]byte
	if work == checkStaples {
		if staples, err = s.direct.Staples(ctx); err != nil {
			return nil, fmt.Errorf("re-read signer staples: %w", err)
		}
		if slices.EqualFunc(staples, old.staples, bytes.Equal) {
			return old, nil
		}
		// New staples: a revocation, a routine OCSP update or a rotated signer. Whichever it
		// is, they are verified with the chain as it is now before any key is granted again.
		if chain, err = s.direct.Chain(ctx); err != nil {
			return nil, fmt.Errorf("fetch signer chain: %w", err)
		}
	} else if work == recheckChain {
		if chain, err = s.direct.Chain(ctx); err != nil {
			return nil, fmt.Errorf("fetch signer chain: %w", err)
		}
		if bytes.Equal(chain, old.chain) {
			old.confirm(seq)
			return old, nil
		}
		if staples, err = s.direct.Staples(ctx); err != nil {
			return nil, err
		}
	} else {
		var chainErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			chain, chainErr = s.direct.Chain(ctx)
		}()
		staples, err = s.direct.Staples(ctx)
		<-done
		if err = errors.Join(chainErr, err); err != nil {
			return nil, err
		}
	}
	sg, err := s.direct.VerifySigner(place, chain, staples)
	if err != nil {
		return nil, &untrustedError{err}
	}
	ent := &signerEntry{sg: sg, chain: chain, staples: staples, verified: s.now(), checked: started}
	ent.confirm(seq)
	return ent, nil
}

// poke sends on a one-slot channel without blocking.
func (s *Service) poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
