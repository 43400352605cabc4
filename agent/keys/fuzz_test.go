package keys_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/keys"
)

// FuzzEvaluate feeds arbitrary bundles through Parse and Evaluate with a fixed signer. Seeds are
// real signed bundles (made with this binary's signer), so mutations explore the paths past
// the signature check.
func FuzzEvaluate(f *testing.F) {
	ed, ec := key(f, "ed25519"), key(f, "sk-ecdsa-p256")
	for _, specs := range [][]spec{
		{block(future, ed)},
		{block(future, ed), block(future, ec), block(future+5, ed)},
		{{meta: meta(future), key: line(ec) + " comment", wrap: 60}},
		{{meta: append(meta(future), "#Extra=1"), key: `command="x" ` + line(ed)}},
		{block(now.Unix(), ed)},
	} {
		f.Add(bundleOf(f, specs...))
	}
	f.Add([]byte("#Timestamp=1\n#Instance=i-0\nssh-ed25519 AAAA\nAAAA\n"))
	pub := &signer(f).PublicKey
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, err := bundle.Parse(data)
		if err != nil {
			return
		}
		accepted, rejected := keys.Evaluate(keys.Input{Blocks: blocks, SignerKey: pub, InstanceID: instanceID, Now: now})
		rejectedBlocks := map[int]bool{}
		for _, r := range rejected {
			if rejectedBlocks[r.Block] || r.Reason == "" || r.Detail == "" {
				t.Fatalf("bad rejection %+v", r)
			}
			rejectedBlocks[r.Block] = true
		}
		if len(rejected) > len(blocks) || len(accepted) > len(blocks)-len(rejected) {
			t.Fatalf("%d blocks gave %d accepted and %d rejected", len(blocks), len(accepted), len(rejected))
		}
		// Precheck must agree: whatever it rejects, Evaluate rejects for the same reason, or
		// for the signature it checks first.
		for _, p := range keys.Precheck(blocks, instanceID, now, nil) {
			if p.Reason == "" {
				continue
			}
			i := slices.IndexFunc(rejected, func(r keys.Rejected) bool { return r.Block == p.Block })
			if i < 0 || (rejected[i].Reason != p.Reason && rejected[i].Reason != keys.ReasonBadSignature) {
				t.Fatalf("Precheck rejects block %d for %s, Evaluate does not agree", p.Block, p.Reason)
			}
		}
		for _, a := range accepted {
			if a.Block < 0 || a.Block >= len(blocks) || rejectedBlocks[a.Block] {
				t.Fatalf("accepted key names block %d of %d, or a rejected one", a.Block, len(blocks))
			}
			b := blocks[a.Block]
			h := sha256.Sum256(b.Signed)
			opts := &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}
			if b.Err != nil || rsa.VerifyPSS(pub, crypto.SHA256, h[:], b.Signature, opts) != nil {
				t.Fatalf("accepted block %d whose signature does not verify (err %v)", a.Block, b.Err)
			}
			if a.InstanceID != instanceID || !a.Expires.After(now) {
				t.Fatalf("accepted block %d for %q expiring %v", a.Block, a.InstanceID, a.Expires)
			}
			if _, isCert := a.Key.(*ssh.Certificate); isCert || line(a.Key) != a.Line {
				t.Fatalf("accepted block %d: key %q is a certificate or not canonical", a.Block, a.Line)
			}
		}
	})
}
