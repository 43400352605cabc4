package service

import (
	"context"
	"time"
)

// The revocation check. A cached signer stays valid until its staples' nextUpdate, which can be
// days away, while IMDS may serve a revoked staple for it at any moment (its key was stolen: the
// case that matters most). Direct mode reads the staples on every login and refuses at once; the
// service reads them again every checkEvery in the background, and grants no key with a signer
// whose latest successful read is older than checkEvery. So the last grant after IMDS starts
// serving a revoked staple comes less than checkEvery later, and a login never pays for the
// check unless the background one is overdue (IMDS failing): then the login waits for a check
// and, when it cannot complete, gets no key, as in direct mode with IMDS down.

// fresh reports whether e's staples were read successfully less than checkEvery before now. A
// clock that went back makes the read overdue: one more read costs little. c.mu is held.
func (s *Service) fresh(e *signerEntry, now time.Time) bool {
	d := now.Sub(e.checked)
	return d >= 0 && d < s.checkEvery()
}

// checkLead is how much of checkEvery before the latest read expires the background reads the
// staples again, so that in steady state no login finds the read overdue and waits.
func (s *Service) checkLead() time.Duration { return s.checkEvery() / 10 }

// CheckRevocation reads the staples of the cached signer again now and verifies the signer again
// when they changed (a verification or check already in progress is joined). Without a valid
// cached signer it verifies one, as Refresh does. A refusal drops the cached signer and the key
// memory; a failed read keeps the signer, which then grants nothing once its latest read is
// older than checkEvery.
func (s *Service) CheckRevocation(ctx context.Context) error {
	c := &s.signers
	c.mu.Lock()
	// A chain re-check in flight reads no staples: do not settle for it.
	f := c.joinable(verifyFull, checkStaples)
	if f == nil {
		f, _ = s.startCheck(s.now())
	}
	c.mu.Unlock()
	_, err := f.wait(ctx)
	return s.closedErr(err)
}

// startCheck joins or starts a revocation check of the cached signer when it is valid at now,
// else a full verification, and says which. c.mu is held.
func (s *Service) startCheck(now time.Time) (*signerFlight, signerWork) {
	c := &s.signers
	if cur := c.cur; s.usable(cur, now) {
		if f := c.joinable(checkStaples); f != nil {
			return f, checkStaples
		}
		return s.startSignerFlight(checkStaples, cur), checkStaples
	}
	if f := c.joinable(verifyFull); f != nil {
		return f, verifyFull
	}
	return s.startSignerFlight(verifyFull, nil), verifyFull
}
