package service

import (
	"context"
	"sync"
)

// flight is one piece of work in progress whose result everyone who joins it shares.
type flight[V any] struct {
	done chan struct{}
	gen  uint64 // the group's generation when it started
	val  V
	err  error
}

// wait returns the flight's result once it is done, or ctx's error first.
func (f *flight[V]) wait(ctx context.Context) (V, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// group is the service's one way of doing work once for everyone who needs it: at most one
// flight per key is joinable at a time. gen counts invalidations (the trust store changed): a
// flight that started before the latest is never joined again, and its settle hook hears that
// its result must not be kept. The group's mutex also guards whatever the cache that embeds it
// keeps beside it.
type group[K comparable, V any] struct {
	mu  sync.Mutex
	gen uint64
	m   map[K]*flight[V]
}

// joinable returns the first flight in progress of the current generation among keys, or nil.
// g.mu is held.
func (g *group[K, V]) joinable(keys ...K) *flight[V] {
	for _, k := range keys {
		if f := g.m[k]; f != nil && f.gen == g.gen {
			return f
		}
	}
	return nil
}

// start runs work as the flight for key, on the service's own context (the others waiting for
// it must not fail because its first requester went away) with the configured deadline. settle,
// when set, runs under g.mu once work returns and before anyone sees the result: it learns
// whether the flight is still of the current generation, may change the result, and may return
// a function to run after the waiters are released (for logging). A closed service runs
// nothing and the flight fails with errClosed. g.mu is held.
func (g *group[K, V]) start(s *Service, key K, work func(context.Context) (V, error),
	settle func(f *flight[V], current bool) func()) *flight[V] {
	f := &flight[V]{done: make(chan struct{}), gen: g.gen}
	started := s.goBackground(func(base context.Context) {
		ctx, cancel := context.WithTimeout(base, s.deadline())
		defer cancel()
		val, err := work(ctx)
		g.mu.Lock()
		if g.m[key] == f {
			delete(g.m, key)
		}
		f.val, f.err = val, err
		var after func()
		if settle != nil {
			after = settle(f, f.gen == g.gen)
		}
		g.mu.Unlock()
		close(f.done)
		if after != nil {
			after()
		}
	})
	if !started {
		f.err = errClosed
		close(f.done)
		return f
	}
	if g.m == nil {
		g.m = map[K]*flight[V]{}
	}
	g.m[key] = f
	return f
}

// once returns the flight for key in progress, or starts one with work; settle is as for
// start. It is for results fetched once and kept by the caller (the identity, the placement).
func (g *group[K, V]) once(s *Service, key K, work func(context.Context) (V, error), settle func(f *flight[V], current bool) func()) *flight[V] {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.joinable(key); f != nil {
		return f
	}
	return g.start(s, key, work, settle)
}
