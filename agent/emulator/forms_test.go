package emulator

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/signer"
)

const (
	junkCert = "other: Junk Certificate"
	forger   = "other: Unrelated OCSP Responder"
)

// certsField names each certificate of a staple's certs field after its role in p.
func certsField(t *testing.T, p *pki.PKI, der []byte) []string {
	t.Helper()
	names, err := p.CertsRoles(der)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// served is what a client of the emulator gets for the signer: the chain and every listed staple.
type served struct {
	chain   []byte
	staples map[string][]byte // staple name -> DER
}

func fetchSigner(t *testing.T, srv *httptest.Server) served {
	t.Helper()
	out := served{chain: []byte(get(t, srv, MetaPrefix+"managed-ssh-keys/signer-cert").body), staples: map[string][]byte{}}
	for _, name := range strings.Split(get(t, srv, ocspPath).body, "\n") {
		a := get(t, srv, ocspPath+"/"+name)
		der, err := base64.StdEncoding.DecodeString(a.body)
		if a.status != http.StatusOK || err != nil {
			t.Fatalf("staple %s: status %d, base64 error %v; want 200 and a staple", name, a.status, err)
		}
		out.staples[name] = der
	}
	return out
}

// verifyServed runs the production verifier on what was served, at the emulator's time.
func verifyServed(t *testing.T, e *Emulator, s served, clk *clock) error {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(e.RootPEM())
	in := signer.Input{ChainPEM: s.chain, Roots: roots, ExpectedCN: e.PKI().Signer.Cert.Subject.CommonName, Now: clk.Now()}
	for _, der := range s.staples {
		in.Staples = append(in.Staples, der)
	}
	_, err := signer.Verify(in)
	return err
}

// TestServedStapleCertsForms: for every form, alone and with the delegated responder, both
// served staples carry exactly that certs field, and the production verifier accepts them;
// a delegated staple without its responder, and a forged one carrying the real chain, are
// refused, as they must be.
func TestServedStapleCertsForms(t *testing.T) {
	e, srv, clk := start(t, Config{})
	p := e.PKI()
	tests := []struct {
		form          pki.Certs
		fault         StapleFault
		signer, inter []string // the certs field of the signer's and of the intermediate's staple
		wantReason    signer.Reason
	}{
		{form: pki.CertsDefault, fault: StapleGood, signer: []string{}, inter: []string{}},
		{form: pki.CertsNone, fault: StapleGood, signer: []string{}, inter: []string{}},
		{form: pki.CertsIssuer, fault: StapleGood, signer: []string{"intermediate"}, inter: []string{"root"}},
		{form: pki.CertsIssuerChain, fault: StapleGood, signer: []string{"intermediate", "root"}, inter: []string{"root"}},
		{form: pki.CertsJunk, fault: StapleGood, signer: []string{junkCert, "intermediate"}, inter: []string{junkCert, "root"}},
		{form: pki.CertsDefault, fault: StapleDelegated, signer: []string{"responder"}, inter: []string{"root-responder"}},
		{form: pki.CertsIssuer, fault: StapleDelegated,
			signer: []string{"responder", "intermediate"}, inter: []string{"root-responder", "root"}},
		{form: pki.CertsIssuerChain, fault: StapleDelegated,
			signer: []string{"responder", "intermediate", "root"}, inter: []string{"root-responder", "root"}},
		{form: pki.CertsJunk, fault: StapleDelegated,
			signer: []string{junkCert, "responder", "intermediate"}, inter: []string{junkCert, "root-responder", "root"}},
		// Nobody can check a delegated responder's signature without its certificate.
		{form: pki.CertsNone, fault: StapleDelegated, signer: []string{}, inter: []string{},
			wantReason: signer.ReasonBadSignature},
		// A forger's staple does not become good by carrying the real issuer and its chain.
		{form: pki.CertsIssuerChain, fault: StapleUnrelated,
			signer: []string{forger, "intermediate", "root"}, inter: []string{forger, "root"},
			wantReason: signer.ReasonBadSignature},
	}
	for _, tc := range tests {
		name := tc.form.String()
		if tc.fault != StapleGood {
			name = tc.fault.String() + "-" + name
		}
		t.Run(name, func(t *testing.T) {
			if err := e.SetStapleCerts(tc.form); err != nil {
				t.Fatal(err)
			}
			e.SetFaults(Faults{SignerStaple: tc.fault, IntermediateStaple: tc.fault})
			s := fetchSigner(t, srv)
			for _, c := range []struct {
				cert *x509.Certificate
				want []string
			}{{p.Signer.Cert, tc.signer}, {p.Intermediate.Cert, tc.inter}} {
				der, ok := s.staples[pki.StapleName(c.cert)]
				if !ok {
					t.Fatalf("no staple listed for %s", c.cert.Subject.CommonName)
				}
				if diff := cmp.Diff(c.want, certsField(t, p, der)); diff != "" {
					t.Errorf("certs of the %s staple (-want +got):\n%s", c.cert.Subject.CommonName, diff)
				}
			}
			err := verifyServed(t, e, s, clk)
			var serr *signer.Error
			switch {
			case tc.wantReason == "" && err != nil:
				t.Errorf("signer.Verify refused a correct staple form: %v", err)
			case tc.wantReason != "" && (!errors.As(err, &serr) || serr.Reason != tc.wantReason):
				t.Errorf("signer.Verify = %v, want reason %s", err, tc.wantReason)
			}
		})
	}
}

// TestStapleCertsSwitch: the form set in Config is served first, SetStapleCerts changes what
// the next fetch gets, and neither clearing faults nor an unknown form changes it.
func TestStapleCertsSwitch(t *testing.T) {
	e, srv, _ := start(t, Config{StapleCerts: pki.CertsIssuer})
	p := e.PKI()
	signerStaple := func(t *testing.T) []string {
		t.Helper()
		return certsField(t, p, fetchSigner(t, srv).staples[pki.StapleName(p.Signer.Cert)])
	}
	steps := []struct {
		name string
		do   func(t *testing.T)
		want []string
	}{
		{"config-form-served-first", func(*testing.T) {}, []string{"intermediate"}},
		{"switch-applies-to-the-next-fetch", func(t *testing.T) {
			if err := e.SetStapleCerts(pki.CertsJunk); err != nil {
				t.Fatal(err)
			}
		}, []string{junkCert, "intermediate"}},
		{"clearing-faults-keeps-the-form", func(*testing.T) { e.SetFaults(Faults{}) }, []string{junkCert, "intermediate"}},
		{"unknown-form-refused-and-nothing-changes", func(t *testing.T) {
			if err := e.SetStapleCerts(pki.CertsJunk + 1); err == nil {
				t.Fatal("SetStapleCerts accepted an unknown form")
			}
			if got := e.StapleCerts(); got != pki.CertsJunk {
				t.Fatalf("StapleCerts = %v after a refused change, want junk", got)
			}
		}, []string{junkCert, "intermediate"}},
		{"staple-der-follows-the-form", func(t *testing.T) {
			if err := e.SetStapleCerts(pki.CertsIssuerChain); err != nil {
				t.Fatal(err)
			}
			der, err := e.StapleDER(p.Signer.Cert, StapleGood)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"intermediate", "root"}, certsField(t, p, der)); diff != "" {
				t.Fatalf("StapleDER certs (-want +got):\n%s", diff)
			}
		}, []string{"intermediate", "root"}},
		{"back-to-default", func(t *testing.T) {
			if err := e.SetStapleCerts(pki.CertsDefault); err != nil {
				t.Fatal(err)
			}
		}, []string{}},
	}
	// The steps build on each other: each runs after the one before it.
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do(t)
			if diff := cmp.Diff(st.want, signerStaple(t)); diff != "" {
				t.Fatalf("certs of the served signer staple (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("unknown-form-in-config-refused", func(t *testing.T) {
		if _, err := New(Config{PKI: p, StapleCerts: pki.CertsJunk + 1}); err == nil {
			t.Fatal("New accepted an unknown staple certs form")
		}
	})
}
