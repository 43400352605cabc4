package pki

import (
	"crypto/x509"
	"testing"

	"golang.org/x/crypto/ocsp"
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
