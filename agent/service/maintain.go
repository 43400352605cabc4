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

// Start begins the background work: a warm-up, a timer that re-verifies the signer before its
// staples expire or it reaches the maximum age, and the trust store watcher. Idle, it sleeps
// until a timer or a file event. A watcher that cannot be set up is logged, not fatal: the
// maximum age still bounds how long a changed trust store goes unnoticed. Close stops it all.
func (s *Service) Start() {
	files, dirs := s.cfg.TrustFiles, s.cfg.TrustDirs
	if files == nil && dirs == nil {
		files, dirs = truststore.SystemFiles(), truststore.SystemDirs()
	}
	tw, err := newTrustWatch(s.lcfg.CA, files, dirs)
	if err != nil {
		s.log.Warn("cannot watch the trust store; changes are noticed at the next re-verification",
			zap.Error(err), zap.Duration("signer_max_age", s.maxAge))
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
	wctx, cancel := context.WithTimeout(ctx, s.deadline)
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
		refresh := false
		select {
		case <-ctx.Done():
		case <-s.kick:
		case <-s.refreshNow:
			refresh = true
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
		rctx, cancel := context.WithTimeout(ctx, s.deadline)
		err := s.Refresh(rctx)
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

// nextRefresh says when the maintainer should re-verify the signer: shortly before the cached
// one goes stale, after retry when the last background attempt failed, and never while there
// is nothing to keep warm (not identified yet, not an instance, or no signer and no failure:
// the next login verifies).
func (s *Service) nextRefresh(retry time.Duration) (time.Duration, bool) {
	id := s.id.Load()
	if id == nil || !id.OnEC2 {
		return 0, false
	}
	now := s.now()
	c := &s.signers
	c.mu.Lock()
	cur := c.cur
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
	lead := min(s.maxAge/10, maxLead)
	due := cur.verified.Add(s.maxAge)
	if nu := cur.sg.NextUpdate; !nu.IsZero() && nu.Before(due) {
		due = nu
	}
	if na := cur.sg.NotAfter; na.Before(due) {
		due = na
	}
	return max(due.Add(-lead).Sub(now), minInterval), true
}
