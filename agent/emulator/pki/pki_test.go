package pki

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ocsp"

	"github.com/eic-agent/eic-agent/agent/signer"
)

func TestHierarchyVerifiesAndStaplesParse(t *testing.T) {
	p, err := New(Options{Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Signer.Cert.Subject.CommonName, "managed-ssh-signer.eu-west-1.amazonaws.com"; got != want {
		t.Fatalf("signer CN = %q, want %q", got, want)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.Root.Cert)
	inter := x509.NewCertPool()
	inter.AddCert(p.Intermediate.Cert)
	if _, err := p.Signer.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("signer does not verify: %v", err)
	}
	tests := []struct {
		name      string
		cert      *x509.Certificate
		issuer    *x509.Certificate
		spec      StapleSpec
		wantState int
	}{
		{"signer-good", p.Signer.Cert, p.Intermediate.Cert, StapleSpec{}, ocsp.Good},
		{"signer-delegated", p.Signer.Cert, p.Intermediate.Cert, StapleSpec{Delegated: true}, ocsp.Good},
		{"intermediate-revoked", p.Intermediate.Cert, p.Root.Cert, StapleSpec{Status: Revoked}, ocsp.Revoked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der, err := p.Staple(tc.cert, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ocsp.ParseResponseForCert(der, tc.cert, tc.issuer)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.wantState {
				t.Fatalf("status = %d, want %d", r.Status, tc.wantState)
			}
		})
	}
	t.Run("unrelated-fails-issuer-check", func(t *testing.T) {
		der, err := p.Staple(p.Signer.Cert, StapleSpec{Unrelated: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ocsp.ParseResponseForCert(der, p.Signer.Cert, p.Intermediate.Cert); err == nil {
			t.Fatal("unrelated staple verified against the real issuer")
		}
	})
}

func TestRotate(t *testing.T) {
	p, err := New(Options{Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	oldSigner := p.Signer.Cert
	q, err := p.Rotate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.Root.Cert)
	inter := x509.NewCertPool()
	inter.AddCert(p.Intermediate.Cert)
	t.Run("new-signer-verifies-under-the-same-root", func(t *testing.T) {
		if _, err := q.Signer.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
			t.Fatalf("rotated signer does not verify to the old root: %v", err)
		}
	})
	t.Run("same-name-new-key-and-serial", func(t *testing.T) {
		if got, want := q.Signer.Cert.Subject.CommonName, oldSigner.Subject.CommonName; got != want {
			t.Fatalf("CN = %q, want %q", got, want)
		}
		if q.SignerKey().Equal(p.SignerKey()) || q.Signer.Cert.SerialNumber.Cmp(oldSigner.SerialNumber) == 0 {
			t.Fatal("rotation kept the old key or serial")
		}
		if got, want := q.SignerKey().N.BitLen(), p.SignerKey().N.BitLen(); got != want {
			t.Fatalf("key size = %d, want %d", got, want)
		}
	})
	t.Run("original-unchanged", func(t *testing.T) {
		if !p.Signer.Cert.Equal(oldSigner) {
			t.Fatal("Rotate changed the PKI it was called on")
		}
	})
	t.Run("staple-for-new-signer", func(t *testing.T) {
		der, err := q.Staple(q.Signer.Cert, StapleSpec{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ocsp.ParseResponseForCert(der, q.Signer.Cert, q.Intermediate.Cert); err != nil {
			t.Fatalf("staple does not verify for the new signer: %v", err)
		}
		if _, err := q.Staple(oldSigner, StapleSpec{}); err == nil {
			t.Fatal("rotated PKI still staples the old signer")
		}
	})
}

// certsField names each certificate of a staple's certs field after its role in p.
func certsField(t *testing.T, p *PKI, der []byte) []string {
	t.Helper()
	names, err := p.CertsRoles(der)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestStapleCertsForms: each form puts exactly its certificates into the certs field, for both
// staples of the chain, signed by the issuer or by its delegated responder, and the response
// stays validly signed.
func TestStapleCertsForms(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	const junk = "other: Junk Certificate"
	tests := []struct {
		form      Certs
		delegated bool
		signer    []string // certs of the signer's staple (issuer: the intermediate)
		inter     []string // certs of the intermediate's staple (issuer: the root)
	}{
		{CertsDefault, false, []string{}, []string{}},
		{CertsDefault, true, []string{"responder"}, []string{"root-responder"}},
		{CertsNone, false, []string{}, []string{}},
		{CertsNone, true, []string{}, []string{}},
		{CertsIssuer, false, []string{"intermediate"}, []string{"root"}},
		{CertsIssuer, true, []string{"responder", "intermediate"}, []string{"root-responder", "root"}},
		{CertsIssuerChain, false, []string{"intermediate", "root"}, []string{"root"}},
		{CertsIssuerChain, true, []string{"responder", "intermediate", "root"}, []string{"root-responder", "root"}},
		{CertsJunk, false, []string{junk, "intermediate"}, []string{junk, "root"}},
		{CertsJunk, true, []string{junk, "responder", "intermediate"}, []string{junk, "root-responder", "root"}},
	}
	for _, tc := range tests {
		name := tc.form.String()
		if tc.delegated {
			name = "delegated-" + name
		}
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				cert, issuer *x509.Certificate
				want         []string
			}{{p.Signer.Cert, p.Intermediate.Cert, tc.signer}, {p.Intermediate.Cert, p.Root.Cert, tc.inter}} {
				der, err := p.Staple(c.cert, StapleSpec{Certs: tc.form, Delegated: tc.delegated})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(c.want, certsField(t, p, der)); diff != "" {
					t.Errorf("certs of the %s staple (-want +got):\n%s", c.cert.Subject.CommonName, diff)
				}
				// The field was rewritten after signing: the signature must still hold (with
				// the responder at hand whenever it signed).
				_, err = signer.CheckStaple(der, c.cert, c.issuer, p.now)
				if wantOK := !tc.delegated || tc.form != CertsNone; (err == nil) != wantOK {
					t.Errorf("CheckStaple(%s) = %v, want ok %v", c.cert.Subject.CommonName, err, wantOK)
				}
			}
		})
	}
}

// TestStapleCertsNames: every form round-trips through its name, and nothing else is a form,
// so a typo on a command line or in JSON never silently serves another form.
func TestStapleCertsNames(t *testing.T) {
	for c := CertsDefault; c <= CertsJunk; c++ {
		b, err := c.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%d): %v", c, err)
		}
		var back Certs
		if err := back.UnmarshalText(b); err != nil || back != c {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, c)
		}
	}
	for _, bad := range []string{"", "Issuer", "issuer ", "delegated", "1"} {
		if c, err := ParseCerts(bad); err == nil {
			t.Errorf("ParseCerts(%q) = %v, want an error", bad, c)
		}
	}
	if b, err := Certs(CertsJunk + 1).MarshalText(); err == nil {
		t.Errorf("MarshalText of an unknown form = %q, want an error", b)
	}
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Staple(p.Signer.Cert, StapleSpec{Certs: CertsJunk + 1}); err == nil {
		t.Error("Staple with an unknown certs form succeeded, want an error")
	}
}
