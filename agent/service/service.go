// Package service is the warm eic-agent service: it answers the helper's "keys for USER" queries
// on a unix socket and keeps between logins what direct mode fetches on every run.
//
// What it keeps: the platform check and the instance id (fetched once: they never change for a
// running instance; a failure is retried by the next request, not in a loop), the placement
// (region, zone, domain; fetched once), the verified signer (chain and staples), and for a few
// seconds per user the blocks it verified (so sshd's signed attempt that follows the query costs
// no IMDS request). The IMDS session token is kept by the SDK client, which renews it when it
// expires or is refused.
//
// Contract: cached state never makes the service accept what direct mode would reject. Every
// answer is decided by lookup.Login, the one pipeline direct mode runs too, over the
// service's caches (login.go): expiry, instance, fingerprint and signature are judged again at
// the current time. The cached signer is dropped before use once a staple's
// nextUpdate, the chain's NotAfter or the configured maximum age passes, when the trust store
// changes, and when a re-verification fails; a block whose signature fails against it makes the
// service fetch the chain once more and re-verify when it changed (a rotated signer is picked up
// on the next login). Its staples are read again in the background every revocation_check and
// verified again when they changed, and no key is granted with it once the latest successful
// read is older than that: a revoked signer stops granting within revocation_check.
// Remembered blocks answer only a repeat of a question already answered with an accepted key: a
// fingerprint not in memory always costs a fresh fetch, so a key pushed a moment ago is never
// missed. The service does not write audit records for keys: the helper does, from the answer;
// the service logs its own state changes.
package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/lookup"
)

// DefaultDebounce is how long the trust store must be quiet before a change is acted on: a
// package update rewrites many files in a burst.
const DefaultDebounce = 500 * time.Millisecond

// Config configures a Service. Zero values mean the documented defaults.
type Config struct {
	// File is the parsed configuration file; it must be valid (config.Load and config.Parse
	// return only valid ones; start from config.Default when building one).
	File config.Config
	// Log receives the service's state changes (default: no logging).
	Log *zap.Logger
	// Now is the clock for every verification (default time.Now).
	Now func() time.Time
	// TrustFiles and TrustDirs are the system trust store locations watched when File.Trust.CA
	// is empty (default truststore.SystemFiles and SystemDirs). Tests point them elsewhere.
	TrustFiles, TrustDirs []string
	// Debounce is the quiet time after a trust store event (default DefaultDebounce).
	Debounce time.Duration
}

// Service answers lookups from warm state. It is safe for concurrent use.
type Service struct {
	cfg    Config
	direct *lookup.Direct // the fetches and the signer decision every warm answer goes through
	log    *zap.Logger

	// base bounds the work the service does on its own behalf (shared fetches, refreshes); Close
	// cancels it and waits for bg.
	base   context.Context
	cancel context.CancelFunc
	bgMu   sync.Mutex // orders bg.Add against Close's bg.Wait
	bg     sync.WaitGroup
	closed bool

	// seq orders fetches: a block fetched before a chain fetch started was signed by a signer
	// that chain (or a later one) carries.
	seq atomic.Uint64

	// The identity and the placement are fetched once (a failure is not kept) and never change.
	id         atomic.Pointer[lookup.Identity]
	identities group[struct{}, lookup.Identity]
	place      atomic.Pointer[lookup.Placement]
	placements group[struct{}, lookup.Placement]

	signers signerCache
	memory  memory
	fetches group[string, fetched] // per user

	// refreshNow asks the maintainer for an eager signer refresh (the trust store changed).
	refreshNow chan struct{}
	// kick tells the maintainer the cached signer changed, so it recomputes its timer.
	kick chan struct{}
}

// New makes a service from cfg. It fetches nothing: Warm or the first Lookup does.
func New(cfg Config) (*Service, error) {
	if err := cfg.File.Validate(); err != nil {
		return nil, fmt.Errorf("service config: %w", err)
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	f := cfg.File
	s := &Service{
		cfg:        cfg,
		direct:     lookup.NewDirect(f, cfg.Now),
		log:        cfg.Log,
		refreshNow: make(chan struct{}, 1),
		kick:       make(chan struct{}, 1),
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.memory.init()
	return s, nil
}

// Close stops the background work and waits for it. Lookups still running fail or finish on
// their own contexts. Close is idempotent.
func (s *Service) Close() error {
	s.bgMu.Lock()
	already := s.closed
	s.closed = true
	s.bgMu.Unlock()
	if already {
		return nil
	}
	s.cancel()
	s.bg.Wait()
	return nil
}

// Warm fetches what the first login would otherwise wait for: the identity, the placement and a
// verified signer. A host that is not an EC2 instance warms nothing more.
func (s *Service) Warm(ctx context.Context) error {
	id, err := s.identity(ctx)
	if err != nil {
		return fmt.Errorf("warm up: %w", err)
	}
	if !id.OnEC2 {
		return nil
	}
	if _, err := s.signer(ctx); err != nil {
		return fmt.Errorf("warm up: %w", err)
	}
	return nil
}

// identity runs the platform check and fetches the instance id once. A failure is not kept: the
// next request tries again.
func (s *Service) identity(ctx context.Context) (lookup.Identity, error) {
	if id := s.id.Load(); id != nil {
		return *id, nil
	}
	f := s.identities.once(s, struct{}{}, s.direct.Identity, func(f *flight[lookup.Identity], _ bool) func() {
		if f.err != nil {
			return nil
		}
		id := f.val
		s.id.Store(&id)
		if !id.OnEC2 {
			return func() {
				s.log.Info("not an EC2 instance; EC2 Instance Connect is inactive", zap.String("reason", id.Reason))
			}
		}
		return func() { s.log.Info("instance identified", zap.String("instance_id", id.InstanceID)) }
	})
	id, err := f.wait(ctx)
	return id, s.closedErr(err)
}

// placement fetches region, zone and domain once.
func (s *Service) placement(ctx context.Context) (lookup.Placement, error) {
	if p := s.place.Load(); p != nil {
		return *p, nil
	}
	f := s.placements.once(s, struct{}{}, s.direct.Placement, func(f *flight[lookup.Placement], _ bool) func() {
		if f.err == nil {
			p := f.val
			s.place.Store(&p)
		}
		return nil
	})
	p, err := f.wait(ctx)
	return p, s.closedErr(err)
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// errClosed answers requests that arrive after Close.
var errClosed = errors.New("eic-agent service is shutting down")

// closedErr reports errClosed for work that failed because Close cancelled it, so that the
// request is answered without a verdict (and asked again elsewhere) rather than failed.
func (s *Service) closedErr(err error) error {
	if err != nil && s.base.Err() != nil {
		return errClosed
	}
	return err
}

// goBackground runs f on the service's own context, unless the service is closed.
func (s *Service) goBackground(f func(ctx context.Context)) bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed {
		return false
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f(s.base)
	}()
	return true
}

// The service's settings, read from its configuration where they are stated.

func (s *Service) deadline() time.Duration  { return s.cfg.File.Deadline.Duration }
func (s *Service) keyMemory() time.Duration { return s.cfg.File.Service.KeyMemory.Duration }
func (s *Service) maxAge() time.Duration    { return s.cfg.File.Service.SignerMaxAge.Duration }

// checkEvery is service.revocation_check: how often the staples are read again, and how old the
// latest successful read may be when a key is granted with the cached signer.
func (s *Service) checkEvery() time.Duration { return s.cfg.File.Service.RevocationCheck.Duration }
