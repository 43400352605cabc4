//go:build e2e

package testenv_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/testenv"
)

// TestLoginWithEachStapleForm: whatever a correctly signed staple's certs field carries (SPEC
// "Staple forms"), a real login through sshd and the helper in direct mode succeeds and the
// audit record says so. One sshd serves every form: the form is switched between logins. The
// one form nobody can check, a delegated response without its responder, is refused.
func TestLoginWithEachStapleForm(t *testing.T) {
	sshd := start(t, "")
	t.Cleanup(func() {
		env.Emu.SetFaults(emulator.Faults{})
		if err := env.Emu.SetStapleCerts(pki.CertsDefault); err != nil {
			t.Error(err)
		}
	})
	tests := []struct {
		name  string
		form  pki.Certs
		fault emulator.StapleFault // for both staples: the issuer signs, or its delegated responder
		// refusedFor, when set, is the signer reason the refusal's audit record must carry.
		refusedFor string
	}{
		{name: "default", form: pki.CertsDefault, fault: emulator.StapleGood},
		{name: "none", form: pki.CertsNone, fault: emulator.StapleGood},
		{name: "issuer", form: pki.CertsIssuer, fault: emulator.StapleGood},
		{name: "issuer-chain", form: pki.CertsIssuerChain, fault: emulator.StapleGood},
		{name: "junk", form: pki.CertsJunk, fault: emulator.StapleGood},
		{name: "delegated-issuer-chain", form: pki.CertsIssuerChain, fault: emulator.StapleDelegated},
		{name: "delegated-none-refused", form: pki.CertsNone, fault: emulator.StapleDelegated,
			refusedFor: "staple-bad-signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := env.Emu.SetStapleCerts(tc.form); err != nil {
				t.Fatal(err)
			}
			env.Emu.SetFaults(emulator.Faults{SignerStaple: tc.fault, IntermediateStaple: tc.fault})
			path, pub := key(t, "ed25519")
			mark, logFrom := env.Journal.Mark(), len(sshd.Log())
			req := push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub})
			if tc.refusedFor != "" {
				// An untrusted signer is a failed lookup (exit 1), which sshd logs as such.
				mustBeRefused(t, "ec2-user", path)
				if _, ok := env.Journal.WaitFor(mark, 5*time.Second, func(e testenv.Entry) bool {
					return e["EVENT"] == "reject" && e["REQUEST_ID"] == req && e["REASON"] == "untrusted-signer" &&
						strings.Contains(e["DETAIL"], tc.refusedFor)
				}); !ok {
					t.Fatalf("no audit record rejecting %s as untrusted-signer for %s; journal: %v", req, tc.refusedFor, env.Journal.Since(mark))
				}
				return
			}
			mustLogIn(t, "ec2-user", path)
			if m := commandFailed.FindString(sshd.Log()[logFrom:]); m != "" {
				t.Errorf("sshd logged %q for a normal login", m)
			}
			fp, err := testenv.Fingerprint(path + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			e, ok := env.Journal.WaitFor(mark, 5*time.Second, func(e testenv.Entry) bool {
				return e["EVENT"] == "accept" && e["REQUEST_ID"] == req
			})
			if !ok {
				t.Fatalf("no audit record accepting %s; journal: %v", req, env.Journal.Since(mark))
			}
			if e["FINGERPRINT"] != fp || e["USER"] != "ec2-user" || e["PATH"] != "direct" {
				t.Fatalf("audit record %v; want FINGERPRINT=%s USER=ec2-user PATH=direct", e, fp)
			}
		})
	}
}
