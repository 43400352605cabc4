package doctor

import (
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

func TestSignerCheck(t *testing.T) {
	// A second hierarchy whose signer expires in 12 hours; its root doubles as a wrong trust
	// store for the shared hierarchy.
	expiring, err := pki.New(pki.Options{SignerNotAfter: time.Now().Add(12 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	signerCN := pki.SignerName(emulator.DefaultRegion, emulator.DefaultDomain)
	tests := []struct {
		name           string
		pki            *pki.PKI
		faults         emulator.Faults
		revoke         bool
		wrongCA        bool
		doctorAhead    time.Duration // how far doctor's clock is ahead of the emulator's
		status         Status
		detail, remedy string
	}{
		{name: "good-chain-and-staples-pass", status: OK,
			detail: "verified: " + signerCN + " valid until "},
		{name: "each-staple-reported", status: OK, detail: "; staple for EIC Emulator Test Intermediate CA next update "},
		{name: "revoked-signer-fails", revoke: true, status: Fail, detail: "staple-revoked", remedy: "no EC2 Instance Connect key is accepted"},
		{name: "stale-staple-fails", faults: emulator.Faults{SignerStaple: emulator.StapleStale}, status: Fail, detail: "staple-stale"},
		{name: "missing-staple-fails", faults: emulator.Faults{IntermediateStaple: emulator.StapleMissing}, status: Fail, detail: "staple-missing"},
		{name: "untrusted-root-fails", wrongCA: true, status: Fail, detail: "untrusted-chain"},
		{name: "unlisted-domain-fails", faults: emulator.Faults{Domain: "attacker.example"}, status: Fail, detail: "not on the allow-list"},
		{name: "staple-update-within-a-day-warns", doctorAhead: 7*24*time.Hour - 12*time.Hour, status: Warn,
			detail: "within 24 h", remedy: "IMDS serves a new signer and fresh staples"},
		{name: "signer-expiring-within-a-day-warns", pki: expiring, status: Warn, detail: ": within 24 h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := newInstance(t, tc.pki, false)
			in.emu.SetFaults(tc.faults)
			if tc.revoke {
				in.emu.RevokeSigner()
			}
			if tc.wrongCA {
				in.o.Config.Trust.CA = in.write(t, "other-ca.pem", string(expiring.RootPEM()))
			}
			in.o.Now = func() time.Time { return in.clock.Now().Add(tc.doctorAhead) }
			wantCheck(t, New(in.o).Signer(testContext(t)), tc.status, tc.detail, tc.remedy)
		})
	}
}
