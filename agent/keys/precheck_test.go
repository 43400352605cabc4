package keys_test

import (
	"crypto/rsa"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/keys"
)

func TestPrecheck(t *testing.T) {
	ed, ec := key(t, "ed25519"), key(t, "ecdsa-p384")
	ecFP, err := keys.ParseFingerprint(ssh.FingerprintSHA256(ec))
	if err != nil {
		t.Fatal(err)
	}
	// candidate is what Precheck reports for a block that may pass: claims, no Reason.
	candidate := func(b int, k ssh.PublicKey) keys.Rejected { return rej(b, "", k) }
	tests := []struct {
		name   string
		blocks []spec
		fp     *keys.Fingerprint
		want   []keys.Rejected
	}{
		{
			name:   "valid-block-is-candidate",
			blocks: []spec{block(future, ed)},
			want:   []keys.Rejected{candidate(0, ed)},
		},
		{
			name:   "signature-not-checked",
			blocks: []spec{{meta: meta(future), key: line(ed), sign: signWith(mustOnce(t, foreignSigner), &rsa.PSSOptions{SaltLength: 32})}},
			want:   []keys.Rejected{candidate(0, ed)},
		},
		{
			name: "claims-rejected-in-evaluate-order",
			blocks: []spec{
				{meta: meta(future), key: line(ed), serve: func(l []string) []string { return l[:len(l)-1] }},
				{meta: meta(future)[1:], key: line(ed)},
				{meta: append(meta(future)[:1:1], meta(future)[2:]...), key: line(ed)},
				{meta: append([]string{"#Timestamp=+1"}, meta(future)[1:]...), key: line(ed)},
				{meta: meta(future), key: `no-pty ` + line(ed)},
				{meta: meta(future), key: "ssh-ed25519 AAAA"},
				{meta: append(meta(future)[:1:1], "#Instance=i-0fedcba9876543210"), key: line(ed)},
				block(now.Unix(), ed),
				block(future, ed),
				block(future, ec),
			},
			fp: &ecFP,
			want: []keys.Rejected{
				rej(0, keys.ReasonMalformed, ed),
				rej(1, keys.ReasonMissingTimestamp, ed),
				rej(2, keys.ReasonMissingInstance, ed),
				rej(3, keys.ReasonBadTimestamp, ed),
				rej(4, keys.ReasonKeyOptions, ed),
				rej(5, keys.ReasonBadKey, nil),
				{Block: 6, Reason: keys.ReasonOtherInstance, Fingerprint: ssh.FingerprintSHA256(ed)},
				rej(7, keys.ReasonExpired, ed),
				rej(8, keys.ReasonFingerprintMismatch, ed),
				candidate(9, ec),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blocks, err := bundle.Parse(bundleOf(t, tc.blocks...))
			if err != nil {
				t.Fatal(err)
			}
			got := keys.Precheck(blocks, instanceID, now, tc.fp)
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(keys.Rejected{}, "Detail")); diff != "" {
				t.Errorf("Precheck mismatch (-want +got):\n%s", diff)
			}
			for _, r := range got {
				if (r.Reason == "") != (r.Detail == "") {
					t.Errorf("block %d: Reason %q with Detail %q", r.Block, r.Reason, r.Detail)
				}
			}
		})
	}
	t.Run("no-blocks-no-entries", func(t *testing.T) {
		if got := keys.Precheck(nil, instanceID, now, nil); len(got) != 0 {
			t.Errorf("Precheck(nil) = %v, want none", got)
		}
	})
}
