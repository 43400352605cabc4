package service

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/lookup"
)

// fetched is one fetch of a user's key bundle.
type fetched struct {
	bundle *lookup.Bundle
	seq    uint64    // Service.seq once the answer arrived: orders it against chain fetches
	at     time.Time // the service clock once the answer arrived
}

// keyFetch is a fetch of a user's key bundle, shared by the logins that wait for it.
type keyFetch = flight[fetched]

// fetch returns the fetch in flight for user, or starts one. prev, when not nil, is a fetch the
// caller already waited for and found too old: the caller joins only a fetch started after it.
func (s *Service) fetch(user string, prev *keyFetch) (*keyFetch, bool) {
	g := &s.fetches
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.joinable(user); f != nil && f != prev {
		s.log.Debug("sharing the key fetch in flight", zap.String("user", user))
		return f, true
	}
	return g.start(s, user, func(ctx context.Context) (fetched, error) {
		b, err := s.direct.Bundle(ctx, user, nil)
		return fetched{bundle: b, seq: s.seq.Add(1), at: s.now()}, err
	}, nil), false
}
