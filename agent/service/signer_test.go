package service

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/signer"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

func TestRotatedSignerPickedUpOnNextLogin(t *testing.T) {
	f := newFixture(t, setup{})
	f.warm()
	f.login(testUser, f.push(testUser, 0))
	if err := f.emu.RotateSigner(); err != nil {
		t.Fatal(err)
	}
	fp := f.push(testUser, 0)
	f.emu.ResetCounts()
	f.login(testUser, fp)
	if got := f.emu.Count(chainPath); got != 1 {
		t.Errorf("signer chain fetched %d times after the rotation, want 1", got)
	}
	testkit.WaitFor(t, `a "signer changed" log line`, f.logged("signer changed"))
	// The block signed by the retired signer stays in the bundle until it expires; it must not
	// make every later login fetch the chain again.
	next := f.push(testUser, 0)
	f.emu.ResetCounts()
	f.login(testUser, next)
	if diff := cmp.Diff(map[string]int{keysPath: 1}, f.emu.Counts()); diff != "" {
		t.Errorf("IMDS requests for the login after the rotation (-want +got):\n%s", diff)
	}
}

func TestBadSignatureWithUnchangedChainRejectedOnce(t *testing.T) {
	f := newFixture(t, setup{})
	f.warm()
	good := f.push(testUser, 0)
	f.emu.SetRawKeys(testUser, withForgedBlock(t, f))
	f.emu.ResetCounts()
	f.login(testUser, good)
	if diff := cmp.Diff(map[string]int{keysPath: 1, chainPath: 1}, f.emu.Counts()); diff != "" {
		t.Errorf("first login with a forged block: IMDS requests (-want +got):\n%s", diff)
	}
	f.clk.Advance(f.cfg.Service.KeyMemory.Duration + time.Second)
	f.emu.ResetCounts()
	f.login(testUser, good)
	if diff := cmp.Diff(map[string]int{keysPath: 1}, f.emu.Counts()); diff != "" {
		t.Errorf("second login with the same forged block: IMDS requests (-want +got):\n%s", diff)
	}
}

// withForgedBlock returns the pushed bundle followed by a block altered after signing.
func withForgedBlock(t *testing.T, f *fixture) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pushed, err := f.svc.direct.IMDS().Keys(ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	exp := strconv.FormatInt(f.clk.Now().Add(time.Minute).Unix(), 10)
	block, err := f.emu.SignBlock([]string{
		"#Timestamp=" + exp, "#Instance=" + f.emu.InstanceID(), "#Caller=arn:aws:iam::1:user/a",
		"#Request=r", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGN3xRE0bS4AzYMD+ZI8Kp62y5yvIWSKkYDKQD0rnSy5",
	})
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(block, "user/a", "user/b", 1)
	return []byte(string(pushed) + "\n\n" + forged)
}

func TestRevokedStapleStopsAllKeys(t *testing.T) {
	tests := []struct {
		name    string
		refresh func(f *fixture)
	}{
		{"background-refresh", func(f *fixture) {
			err := f.svc.Refresh(context.Background())
			if err == nil || !isDecision(err) {
				f.t.Errorf("refresh with a revoked staple: err = %v, want a refusal", err)
			}
		}},
		{"max-age-passed", func(f *fixture) { f.clk.Advance(f.cfg.Service.SignerMaxAge.Duration) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{maxAge: time.Minute, keyMemory: time.Minute})
			f.warm()
			fp := f.push(testUser, time.Hour)
			f.login(testUser, fp)
			f.emu.RevokeSigner()
			tc.refresh(f)
			for _, q := range []*keys.Fingerprint{fp, nil} {
				res, err := f.lookup(testUser, q)
				if err == nil || len(res.Accepted) != 0 {
					t.Fatalf("lookup(%v) after revocation: %d keys accepted, err %v; want none and an error", q, len(res.Accepted), err)
				}
				for _, r := range res.Rejected {
					if r.Reason != keys.ReasonUntrustedSigner {
						t.Errorf("block %d rejected for %q, want %q", r.Block, r.Reason, keys.ReasonUntrustedSigner)
					}
				}
			}
		})
	}
}

// TestSignerExpiryStopsRememberedKeys: the signer certificate expires while a key is still in
// memory; the signed attempt must not be answered from memory with a signer no longer valid.
func TestSignerExpiryStopsRememberedKeys(t *testing.T) {
	short, err := pki.New(pki.Options{SignerNotAfter: time.Now().Add(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, setup{keyMemory: time.Minute, pki: short})
	f.warm()
	fp := f.push(testUser, time.Hour)
	f.login(testUser, fp)
	f.clk.Advance(31 * time.Second)
	res, err := f.lookup(testUser, fp)
	if err == nil || len(res.Accepted) != 0 {
		t.Errorf("after the signer certificate expired: %d keys accepted, err %v; want none and an error", len(res.Accepted), err)
	}
}

func TestUsable(t *testing.T) {
	now := time.Now()
	f := newFixture(t, setup{maxAge: time.Hour})
	tests := []struct {
		name                  string
		verified, next, after time.Time
		want                  bool
	}{
		{"fresh", now.Add(-time.Minute), now.Add(time.Hour), now.Add(time.Hour), true},
		{"staple-next-update-passed", now.Add(-time.Minute), now.Add(-time.Second), now.Add(time.Hour), false},
		{"certificate-expired", now.Add(-time.Minute), now.Add(time.Hour), now, false},
		{"max-age-reached", now.Add(-time.Hour), now.Add(time.Hour), now.Add(time.Hour), false},
		{"clock-went-back", now.Add(time.Hour), now.Add(2 * time.Hour), now.Add(2 * time.Hour), false},
		{"anchor-signer-without-staples", now.Add(-time.Minute), time.Time{}, now.Add(time.Hour), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &signerEntry{sg: &signer.Signer{NextUpdate: tc.next, NotAfter: tc.after}, verified: tc.verified}
			if got := f.svc.usable(e, now); got != tc.want {
				t.Errorf("usable = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestIdleSchedule: an idle service sleeps until its next revocation check or signer refresh is
// due, or without any timer when there is nothing to keep warm; it never polls faster.
func TestIdleSchedule(t *testing.T) {
	tests := []struct {
		name    string
		setup   setup
		prepare func(f *fixture)
		retry   time.Duration
		wantOK  bool
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"warm-sleeps-until-shortly-before-the-revocation-check", setup{revocationCheck: time.Minute}, (*fixture).warm, 0, true, 54 * time.Second, 54 * time.Second},
		{"warm-sleeps-until-shortly-before-max-age", setup{maxAge: time.Minute, revocationCheck: 5 * time.Minute}, (*fixture).warm, 0, true, minInterval, time.Minute},
		{"unidentified-has-no-timer", setup{}, func(*fixture) {}, 0, false, 0, 0},
		{"not-ec2-has-no-timer", setup{notEC2: true}, (*fixture).warm, retryFirst, false, 0, 0},
		{"failed-refresh-retries-after-back-off", setup{}, func(f *fixture) {
			f.warm()
			f.svc.InvalidateSigner("test")
		}, retryFirst, true, retryFirst, retryFirst},
		{"no-signer-no-failure-waits-for-a-login", setup{}, func(f *fixture) {
			f.warm()
			f.svc.InvalidateSigner("test")
		}, 0, false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.setup)
			tc.prepare(f)
			d, ok := f.svc.nextRefresh(tc.retry)
			if ok != tc.wantOK || (ok && (d < tc.atLeast || d > tc.atMost)) {
				t.Errorf("nextRefresh = %v, %v; want ok=%v and %v..%v", d, ok, tc.wantOK, tc.atLeast, tc.atMost)
			}
		})
	}
}
