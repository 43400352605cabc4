package service

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/truststore"
)

// Background refresh timing.
const (
	// maxLead is how long before a staple's nextUpdate (or the maximum age) the signer is
	// re-verified in the background, so no login waits for it.
	maxLead = 5 * time.Minute
	// minInterval keeps a signer whose staples are always near their nextUpdate from being
	// re-verified in a tight loop.
	minInterval = 30 * time.Second
	// retryFirst and retryMax bound the back-off after a failed background refresh.
	retryFirst = 30 * time.Second
	retryMax   = 10 * time.Minute
)

// Start begins the background work: a warm-up, a timer that reads the signer's staples again
// every revocation_check and re-verifies the signer before its staples expire or it reaches the
// maximum age, and the trust store watcher. Idle, it sleeps until a timer or a file event. A
// watcher that cannot be set up is logged, not fatal: the maximum age still bounds how long a
// changed trust store goes unnoticed. Close stops it all.
func (s *Service) Start() {
	files, dirs := s.cfg.TrustFiles, s.cfg.TrustDirs
	if files == nil && dirs == nil {
		files, dirs = truststore.SystemFiles(), truststore.SystemDirs()
	}
	tw, err := newTrustWatch(s.cfg.File.Trust.CA, files, dirs)
	if err != nil {
		s.log.Warn("cannot watch the trust store; changes are noticed at the next re-verification",
			zap.Error(err), zap.Duration("signer_max_age", s.maxAge()))
	} else {
		s.log.Debug("watching the trust store", zap.Strings("dirs", tw.watched))
		if !s.goBackground(func(ctx context.Context) { tw.run(ctx, s.cfg.Debounce, s.trustStoreChanged) }) {
			_ = tw.close()
		}
	}
	s.goBackground(s.maintain)
}

func (s *Service) trustStoreChanged(what string) {
	s.InvalidateSigner("trust store changed: " + what)
	s.poke(s.refreshNow)
}

func (s *Service) maintain(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, s.deadline())
	err := s.Warm(wctx)
	cancel()
	if err != nil && ctx.Err() == nil {
		s.log.Warn("warm-up failed; the next login tries again", zap.Error(err))
	}
	var retry time.Duration
	for {
		var timer *time.Timer
		var fire <-chan time.Time
		if d, ok := s.nextRefresh(retry); ok {
			timer = time.NewTimer(d)
			fire = timer.C
		}
		refresh, full := false, false
		select {
		case <-ctx.Done():
		case <-s.kick:
		case <-s.refreshNow:
			refresh, full = true, true
		case <-fire:
			refresh = true
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		if id := s.id.Load(); !refresh || id == nil || !id.OnEC2 {
			// Nothing to keep warm before the instance is identified, or off EC2.
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, s.deadline())
		err := s.keepWarm(rctx, full)
		cancel()
		switch {
		case err == nil:
			retry = 0
		case retry == 0:
			retry = retryFirst
		default:
			retry = min(2*retry, retryMax)
		}
	}
}

// keepWarm does what the timer woke the maintainer for: a full re-verification when one is due
// (or asked for, or there is no valid signer), else a revocation check.
func (s *Service) keepWarm(ctx context.Context, full bool) error {
	c := &s.signers
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	if now := s.now(); !full && s.usable(cur, now) && now.Before(s.refreshDue(cur)) {
		return s.CheckRevocation(ctx)
	}
	return s.Refresh(ctx)
}

// nextRefresh says when the maintainer should wake: for the next revocation check or, shortly
// before the cached signer goes stale, to re-verify it; after retry when the last background
// attempt failed; and never while there is nothing to keep warm (not identified yet, not an
// instance, or no signer and no failure: the next login verifies).
func (s *Service) nextRefresh(retry time.Duration) (time.Duration, bool) {
	id := s.id.Load()
	if id == nil || !id.OnEC2 {
		return 0, false
	}
	now := s.now()
	c := &s.signers
	c.mu.Lock()
	cur := c.cur
	var checked time.Time
	if cur != nil {
		checked = cur.checked
	}
	c.mu.Unlock()
	if !s.usable(cur, now) {
		if retry > 0 {
			return retry, true
		}
		return 0, false
	}
	if retry > 0 {
		// The cached signer is still valid: retry, but no sooner than the back-off.
		return retry, true
	}
	verify := max(s.refreshDue(cur).Sub(now), minInterval)
	check := max(checked.Add(s.checkEvery()-s.checkLead()).Sub(now), 0)
	return min(verify, check), true
}

// refreshDue is when the background re-verifies cur in full: a little before its staples'
// nextUpdate, the chain's NotAfter or the maximum age, whichever comes first.
func (s *Service) refreshDue(cur *signerEntry) time.Time {
	lead := min(s.maxAge()/10, maxLead)
	due := cur.verified.Add(s.maxAge())
	if nu := cur.sg.NextUpdate; !nu.IsZero() && nu.Before(due) {
		due = nu
	}
	if na := cur.sg.NotAfter; na.Before(due) {
		due = na
	}
	return due.Add(-lead)
}
