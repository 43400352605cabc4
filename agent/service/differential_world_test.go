package service

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/keys"
)

// The world of the differential test: what IMDS serves, built through the emulator, and the
// model the one allowance is checked against: every block served, which signer generation
// signed it, and from when each signer state (generation, staples, revocation) was served.

// sshKey is one client key of the pool blocks are made of.
type sshKey struct {
	line     string // canonical "TYPE BASE64"
	pub      ssh.PublicKey
	sha, md5 keys.Fingerprint
}

// keyPool is shared by every scenario: generating keys is the slow part, and which key a
// block carries is what the generator varies, not the key material.
type keyPool struct {
	keys     []sshKey        // what blocks carry: few, so keys are pushed again and again
	stranger sshKey          // never pushed
	forger   *rsa.PrivateKey // signs blocks as someone who is not the signer
}

var (
	poolOnce sync.Once
	poolVal  *keyPool
	poolErr  error
)

func testKeyPool(t testing.TB) *keyPool {
	t.Helper()
	poolOnce.Do(func() { poolVal, poolErr = newKeyPool() })
	if poolErr != nil {
		t.Fatal(poolErr)
	}
	return poolVal
}

func newKeyPool() (*keyPool, error) {
	var raw []any
	for range 3 {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		raw = append(raw, pub)
	}
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			return nil, err
		}
		raw = append(raw, &k.PublicKey)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	raw = append(raw, &rk.PublicKey)
	p := &keyPool{}
	for _, r := range raw {
		k, err := newSSHKey(r)
		if err != nil {
			return nil, err
		}
		p.keys = append(p.keys, k)
	}
	// The stranger is an ed25519 key, the commonest type.
	p.stranger, p.keys = p.keys[0], p.keys[1:]
	if p.forger, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	return p, nil
}

func newSSHKey(raw any) (sshKey, error) {
	pub, err := ssh.NewPublicKey(raw)
	if err != nil {
		return sshKey{}, err
	}
	sha, err := keys.ParseFingerprint(ssh.FingerprintSHA256(pub))
	if err != nil {
		return sshKey{}, err
	}
	md5, err := keys.ParseFingerprint("MD5:" + ssh.FingerprintLegacyMD5(pub))
	if err != nil {
		return sshKey{}, err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	return sshKey{line: line, pub: pub, sha: sha, md5: md5}, nil
}

// blockKind is what the generator makes a block to be.
type blockKind int

const (
	blockGood          blockKind = iota // for this instance, unexpired, signed by the signer
	blockExpired                        // #Timestamp in the past
	blockOtherInstance                  // for another instance
	blockForged                         // signed by a key that is not the signer's
	blockBadSignature                   // signed, then altered
	blockMalformed                      // one of malformations, signed by the signer
)

var blockKindNames = [...]string{"good", "expired", "other-instance", "forged", "bad-signature", "malformed"}

func (k blockKind) String() string { return blockKindNames[k] }

// malformations are blocks the parser or the evaluator refuses before the signature counts,
// or whose key line is unusable even with a good signature.
var malformations = []string{"no-timestamp", "bad-timestamp", "key-options", "carriage-return",
	"signature-not-base64", "no-signature", "duplicate-field", "unknown-key-type", "no-instance"}

// modelBlock is one served block and what the model knows about it.
type modelBlock struct {
	kind     blockKind
	how      string // the malformation, for malformed blocks
	gen      int    // the signer generation whose key signed it
	key      *sshKey
	instance string
	expires  int64     // #Timestamp
	pushed   time.Time // when IMDS began serving it
	request  string
	text     string
}

// acceptable reports whether b yields a key at now for fp when the signers of the generations
// in trusted are trusted: the model's own statement of the block rules (SPEC.md, "The key
// bundle"), independent of agent/keys.
func (b *modelBlock) acceptable(instanceID string, now time.Time, fp *keys.Fingerprint, trusted map[int]bool) bool {
	return b.kind == blockGood && b.instance == instanceID && b.expires > now.Unix() &&
		trusted[b.gen] && (fp == nil || fp.Matches(b.key.pub))
}

// makeBlock builds a block of kind for the signer serving now, valid for ttl (0: a TTL the
// generator picks).
func (w *world) makeBlock(kind blockKind, ttl time.Duration) *modelBlock {
	rng, now := w.rng, w.f.clk.Now()
	b := &modelBlock{kind: kind, gen: w.gen, key: &w.pool.keys[rng.IntN(len(w.pool.keys))],
		instance: w.f.emu.InstanceID(), pushed: now, request: w.requestID()}
	ttls := []time.Duration{3 * time.Second, 8 * time.Second, 20 * time.Second, 45 * time.Second,
		time.Minute, 90 * time.Second, 10 * time.Minute, time.Hour}
	if ttl == 0 {
		ttl = ttls[rng.IntN(len(ttls))]
	}
	b.expires = now.Add(ttl).Unix()
	switch kind {
	case blockExpired:
		b.expires = now.Add(-time.Duration(rng.IntN(120)) * time.Second).Unix()
	case blockOtherInstance:
		b.instance = "i-0fedcba9876543210"
	case blockMalformed:
		b.how = malformations[rng.IntN(len(malformations))]
	}
	meta := []string{
		"#Timestamp=" + strconv.FormatInt(b.expires, 10),
		"#Instance=" + b.instance,
		"#Caller=arn:aws:iam::123456789012:user/u" + strconv.Itoa(rng.IntN(100)),
		"#Request=" + b.request,
	}
	if rng.IntN(4) == 0 { // field order is not fixed
		rng.Shuffle(len(meta), func(i, j int) { meta[i], meta[j] = meta[j], meta[i] })
	}
	if rng.IntN(5) == 0 { // unknown fields are signed like the others
		meta = append(meta, "#Note=pushed by the differential test")
	}
	keyLine := b.key.line
	if rng.IntN(3) == 0 {
		keyLine += " alice@laptop"
	}
	switch b.how {
	case "no-timestamp":
		meta = withoutField(meta, "#Timestamp=")
	case "no-instance":
		meta = withoutField(meta, "#Instance=")
	case "bad-timestamp":
		meta = append(withoutField(meta, "#Timestamp="), "#Timestamp=1e10")
	case "key-options":
		keyLine = `from="10.0.0.0/8" ` + keyLine
	case "carriage-return":
		meta = append(meta, "#Route=cr\r")
	case "duplicate-field":
		meta = append(meta, "#Instance="+b.instance)
	case "unknown-key-type":
		keyLine = "ssh-foo " + strings.Fields(b.key.line)[1]
	}
	signed := strings.Join(append(meta, keyLine), "\n") + "\n"
	signWith := w.f.emu.PKI().SignerKey()
	if kind == blockForged {
		signWith = w.pool.forger
	}
	sig, err := pki.SignPSS(signWith, []byte(signed))
	if err != nil {
		w.t.Fatal(err)
	}
	sigText := base64.StdEncoding.EncodeToString(sig)
	if rng.IntN(4) == 0 { // a signature may be wrapped over several lines
		sigText = wrapAt(sigText, 64)
	}
	switch {
	case kind == blockBadSignature:
		// The claims change after signing, as a forger editing a genuine block would.
		edited := w.requestID()
		signed = strings.Replace(signed, "#Request="+b.request, "#Request="+edited, 1)
		b.request = edited
	case b.how == "signature-not-base64":
		sigText = "this*is*not*base64"
	case b.how == "no-signature":
		b.text = strings.TrimSuffix(signed, "\n")
		return b
	}
	b.text = signed + sigText
	return b
}

func withoutField(meta []string, prefix string) []string {
	var out []string
	for _, m := range meta {
		if !strings.HasPrefix(m, prefix) {
			out = append(out, m)
		}
	}
	return out
}

func wrapAt(s string, n int) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), "\n")
}

// requestID is a UUID-shaped id from the scenario's generator, so a failing seed reproduces.
func (w *world) requestID() string {
	a, b := w.rng.Uint64(), w.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", a>>32, a>>16&0xffff, a&0xfff, b>>52, b&0xffffffffffff)
}

// serve makes IMDS serve the user's blocks (a 404 when there are none). Blocks expired for
// over a minute are dropped, as IMDS does; nothing else ever leaves a bundle before it
// expires, as on AWS, where a pushed key cannot be withdrawn.
func (w *world) serve(user string) {
	now := w.f.clk.Now().Unix()
	var texts []string
	kept := w.blocks[user][:0]
	for _, b := range w.blocks[user] {
		if b.expires+60 < now {
			continue
		}
		kept = append(kept, b)
		texts = append(texts, b.text)
	}
	w.blocks[user] = kept
	if len(texts) == 0 {
		w.f.emu.SetRawKeys(user, nil)
		return
	}
	w.f.emu.SetRawKeys(user, []byte(strings.Join(texts, "\n\n")))
}

// signerState is what IMDS serves for the signer from a moment on.
type signerState struct {
	from    time.Time
	gen     int
	trusted bool // the direct source trusts the signer IMDS serves
	// readable: IMDS answers the staple reads, so the service's revocation check can succeed.
	readable bool
}

// stapleTrusted is the model of signer.Verify for one staple the emulator serves.
func stapleTrusted(f emulator.StapleFault, certs pki.Certs) bool {
	switch f {
	case emulator.StapleGood:
		return true
	case emulator.StapleDelegated: // verifiable only with the responder's certificate
		return certs != pki.CertsNone
	}
	return false
}

// noteSignerState records what IMDS serves for the signer from now on. Every change of the
// signer, its staples or IMDS's health calls it.
func (w *world) noteSignerState() {
	trusted := !w.revoked[w.gen] &&
		stapleTrusted(w.faults.SignerStaple, w.certs) && stapleTrusted(w.faults.IntermediateStaple, w.certs)
	readable := w.down == "" || w.down == "keys-503"
	w.states = append(w.states, signerState{from: w.f.clk.Now(), gen: w.gen, trusted: trusted, readable: readable})
}

func (w *world) trustedNow() bool { return w.states[len(w.states)-1].trusted }

// recentlyTrusted is the set of signer generations the service may still grant with at now:
// those whose staples IMDS served, readably and trusted, at some moment less than
// revocation_check before now. A state counts until the moment it was replaced, inclusive (a
// read at that moment may precede the change).
func (w *world) recentlyTrusted(now time.Time) map[int]bool {
	out := map[int]bool{}
	horizon := now.Add(-w.f.cfg.Service.RevocationCheck.Duration)
	for i, s := range w.states {
		if !s.trusted || !s.readable {
			continue
		}
		if i+1 == len(w.states) || w.states[i+1].from.After(horizon) {
			out[s.gen] = true
		}
	}
	return out
}
