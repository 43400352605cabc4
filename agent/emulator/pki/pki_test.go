package pki

import (
	"crypto/x509"
	"testing"
	"time"

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
