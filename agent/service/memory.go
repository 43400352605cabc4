package service

import (
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/keys"
)

// maxRemembered bounds the key memory; past it, new answers are simply not remembered.
const maxRemembered = 4096

// memEntry is what one fetch for a user answered with accepted keys.
type memEntry struct {
	seq    uint64 // the fetch's fetched.seq
	until  time.Time
	blocks []bundle.Block
	signer *signerEntry
	// answered are the keys accepted in answers from this fetch.
	answered []ssh.PublicKey
}

// memory remembers, per user, the blocks of the latest fetch that answered with an accepted key.
type memory struct {
	mu sync.Mutex
	m  map[string]*memEntry
}

func (m *memory) init() { m.m = map[string]*memEntry{} }

// update records an answer from fetch f evaluated with ent. An answer without keys from a newer
// fetch than the remembered one forgets the user: memory always reflects the latest bundle.
func (m *memory) update(user string, f fetched, ent *signerEntry, acc []keys.Accepted, fp *keys.Fingerprint, ttl time.Duration) {
	blocks := f.bundle.Blocks
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.m[user]
	if e != nil && e.seq > f.seq {
		return
	}
	if len(acc) == 0 || ttl <= 0 {
		if e != nil && e.seq < f.seq {
			delete(m.m, user)
		}
		return
	}
	if e == nil || e.seq < f.seq || e.signer != ent {
		if e == nil && len(m.m) >= maxRemembered {
			m.sweep(f.at)
			if len(m.m) >= maxRemembered {
				return
			}
		}
		e = &memEntry{seq: f.seq, until: f.at.Add(ttl), blocks: blocks, signer: ent}
		m.m[user] = e
	}
	for _, a := range acc {
		// Every waiter on one shared fetch records its answer: keep each key once.
		if !slices.ContainsFunc(e.answered, func(k ssh.PublicKey) bool { return ssh.FingerprintSHA256(k) == a.Fingerprint }) {
			e.answered = append(e.answered, a.Key)
		}
	}
}

// supersede forgets the user when fetch seq is newer than what is remembered.
func (m *memory) supersede(user string, seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.m[user]; e != nil && e.seq < seq {
		delete(m.m, user)
	}
}

// recall returns the remembered blocks and signer when the same question (the same fingerprint;
// never a question without one) was answered with an accepted key from the remembered fetch and the memory has not
// expired at now.
func (m *memory) recall(user string, fp *keys.Fingerprint, now time.Time) ([]bundle.Block, *signerEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.m[user]
	if e == nil {
		return nil, nil, false
	}
	if !now.Before(e.until) {
		delete(m.m, user)
		return nil, nil, false
	}
	if fp == nil {
		// A question about every key must see keys pushed since the remembered fetch.
		return nil, nil, false
	}
	for _, k := range e.answered {
		if fp.Matches(k) {
			return e.blocks, e.signer, true
		}
	}
	return nil, nil, false
}

// forget drops everything (the signer it was verified with is gone).
func (m *memory) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.m)
}

func (m *memory) sweep(now time.Time) {
	for u, e := range m.m {
		if !now.Before(e.until) {
			delete(m.m, u)
		}
	}
}
