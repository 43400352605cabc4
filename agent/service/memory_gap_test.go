package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/lookup"
)

// keyMemoryMissesPushes records a disagreement the differential test found and the service
// has not fixed yet: the key memory answers a repeat question from the bundle it fetched up to
// key_memory ago, so it does not see blocks pushed since. A query without a fingerprint then
// misses a key pushed meanwhile (the service's contract says such a key is never missed), and
// a query for a key pushed again names the earlier push (its request id, caller and expiry)
// where direct mode names the copy with the latest expiry. It never grants more than direct
// mode. While this is true, TestDirectAndWarmAgree tolerates exactly that (fewer keys or an
// earlier copy, only in an answer given without fetching, only for blocks pushed within
// key_memory) and TestKeyMemorySeesKeysPushedSinceItsFetch is skipped. Set it to false with
// the fix.
const keyMemoryMissesPushes = true

// TestKeyMemorySeesKeysPushedSinceItsFetch: a repeat question answered from the key memory gets
// the answer direct mode gives, keys pushed since the remembered fetch included.
func TestKeyMemorySeesKeysPushedSinceItsFetch(t *testing.T) {
	if keyMemoryMissesPushes {
		t.Skip("known disagreement: the key memory does not see keys pushed since its fetch (see keyMemoryMissesPushes)")
	}
	tests := []struct {
		name string
		// first is pushed and asked about; then second is pushed and the question repeated.
		first, second time.Duration // TTLs
		sameKey       bool
		fingerprint   bool
	}{
		{"query-without-fingerprint-sees-a-new-key", time.Minute, time.Minute, false, false},
		{"repeat-names-the-latest-push-of-a-key", time.Minute, time.Hour, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{keyMemory: 10 * time.Second})
			f.warm()
			first := newTestKey(t)
			second := first
			if !tc.sameKey {
				second = newTestKey(t)
			}
			q := lookup.Query{User: testUser}
			if tc.fingerprint {
				q.Fingerprint = &first.sha
			}
			f.pushKey(first, tc.first)
			if res, err := f.lookup(q.User, q.Fingerprint); err != nil || len(res.Accepted) != 1 {
				t.Fatalf("first answer: %d keys, err %v; want the one pushed", len(res.Accepted), err)
			}
			f.pushKey(second, tc.second)
			f.clk.Advance(time.Second)
			want, werr := f.direct(q)
			got, gerr := f.lookup(q.User, q.Fingerprint)
			if werr != nil || gerr != nil {
				t.Fatalf("direct err %v, warm err %v", werr, gerr)
			}
			if diff := cmp.Diff(grants(want), grants(got)); diff != "" {
				t.Errorf("keys granted (-direct +warm):\n%s", diff)
			}
		})
	}
}

// grants is what an answer grants, as "LINE REQUEST-ID".
func grants(res lookup.Result) []string {
	var out []string
	for _, a := range res.Accepted {
		out = append(out, a.Line+" "+a.RequestID)
	}
	return out
}

func newTestKey(t testing.TB) sshKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := newSSHKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pushKey pushes k for testUser, so the same key can be pushed twice.
func (f *fixture) pushKey(k sshKey, ttl time.Duration) {
	f.t.Helper()
	if _, err := f.emu.Push(emulator.Push{OSUser: testUser, PublicKey: k.line, TTL: ttl}); err != nil {
		f.t.Fatal(err)
	}
}

// direct is the direct source's answer to q now.
func (f *fixture) direct(q lookup.Query) (lookup.Result, error) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return lookup.Login(ctx, lookup.NewDirect(f.cfg, f.clk.Now), q, f.clk.Now)
}
