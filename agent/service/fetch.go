package service

import (
	"context"
	"go.uber.org/zap"
	"sync"
	"time"

	"github.com/eic-agent/eic-agent/agent/lookup"
)

// keyFetch is one fetch of a user's key bundle, shared by the requests that wait for it.
type keyFetch struct {
	done   chan struct{}
	bundle *lookup.Bundle
	err    error
	seq    uint64    // Service.seq once the answer arrived
	at     time.Time // the service clock once the answer arrived
}

// fetchGroup holds the fetch in flight per user.
type fetchGroup struct {
	mu sync.Mutex
	m  map[string]*keyFetch
}

func (g *fetchGroup) init() { g.m = map[string]*keyFetch{} }

// fetch returns the fetch in flight for user, or starts one. prev, when not nil, is a fetch the
// caller already waited for and found too old: the caller joins only a fetch started after it.
func (s *Service) fetch(user string, prev *keyFetch) (*keyFetch, bool) {
	g := &s.fetches
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.m[user]; f != nil && f != prev {
		s.log.Debug("sharing the key fetch in flight", zap.String("user", user))
		return f, true
	}
	f := &keyFetch{done: make(chan struct{})}
	started := s.goBackground(func(base context.Context) {
		// The fetch runs on the service's context, not the first requester's: the others waiting
		// for it must not fail because that one went away.
		ctx, cancel := context.WithTimeout(base, s.deadline())
		defer cancel()
		f.bundle, f.err = s.direct.Bundle(ctx, user, nil, nil)
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
