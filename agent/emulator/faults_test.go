package emulator

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

const ocspPath = MetaPrefix + "managed-ssh-keys/signer-ocsp"

func TestStapleList(t *testing.T) {
	e, srv, _ := start(t, Config{})
	p := e.PKI()
	sha1Names := []string{pki.StapleName(p.Signer.Cert), pki.StapleName(p.Intermediate.Cert)}
	tests := []struct {
		name   string
		faults Faults
		want   []string
	}{
		{"both-named-by-sha1", Faults{}, sha1Names},
		{"missing-signer-staple-not-listed", Faults{SignerStaple: StapleMissing}, sha1Names[1:]},
		{"missing-intermediate-staple-not-listed", Faults{IntermediateStaple: StapleMissing}, sha1Names[:1]},
		{"names-by-sha256", Faults{StapleNames256: true},
			[]string{pki.StapleName256(p.Signer.Cert), pki.StapleName256(p.Intermediate.Cert)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.SetFaults(tc.faults)
			a := get(t, srv, ocspPath+"/")
			if a.status != 200 {
				t.Fatalf("status = %d, want 200", a.status)
			}
			if got := strings.Split(a.body, "\n"); !slices.Equal(got, tc.want) {
				t.Fatalf("names = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("sha1-name-not-found-when-named-by-sha256", func(t *testing.T) {
		e.SetFaults(Faults{StapleNames256: true})
		if a := get(t, srv, ocspPath+"/"+sha1Names[0]); a.status != 404 {
			t.Fatalf("status = %d, want 404", a.status)
		}
	})
	t.Run("sha256-name-served", func(t *testing.T) {
		e.SetFaults(Faults{StapleNames256: true})
		a := get(t, srv, ocspPath+"/"+pki.StapleName256(p.Signer.Cert))
		der, err := base64.StdEncoding.DecodeString(a.body)
		if a.status != 200 || err != nil {
			t.Fatalf("status %d, base64 error %v; want 200 and a staple", a.status, err)
		}
		if _, err := ocsp.ParseResponseForCert(der, p.Signer.Cert, p.Intermediate.Cert); err != nil {
			t.Fatalf("staple under the SHA-256 name is not the signer's: %v", err)
		}
	})
	t.Run("missing-staple-not-found-by-name", func(t *testing.T) {
		e.SetFaults(Faults{SignerStaple: StapleMissing})
		if a := get(t, srv, ocspPath+"/"+sha1Names[0]); a.status != 404 {
			t.Fatalf("status = %d, want 404", a.status)
		}
	})
}

func TestStapleFaults(t *testing.T) {
	e, srv, clk := start(t, Config{})
	p := e.PKI()
	now := clk.Now()
	type check func(t *testing.T, der []byte, cert, issuer *x509.Certificate)
	parsesFor := func(status int, also func(t *testing.T, r *ocsp.Response)) check {
		return func(t *testing.T, der []byte, cert, issuer *x509.Certificate) {
			r, err := ocsp.ParseResponseForCert(der, cert, issuer)
			if err != nil {
				t.Fatalf("staple does not verify for the certificate: %v", err)
			}
			if r.Status != status {
				t.Fatalf("status = %d, want %d", r.Status, status)
			}
			if also != nil {
				also(t, r)
			}
		}
	}
	times := func(this, next time.Time) func(t *testing.T, r *ocsp.Response) {
		return func(t *testing.T, r *ocsp.Response) {
			if !r.ThisUpdate.Equal(this) || !r.NextUpdate.Equal(next) {
				t.Fatalf("thisUpdate, nextUpdate = %v, %v; want %v, %v", r.ThisUpdate, r.NextUpdate, this, next)
			}
		}
	}
	tests := []struct {
		fault StapleFault
		check check
	}{
		{StapleGood, parsesFor(ocsp.Good, times(now.Add(-time.Hour), now.Add(7*24*time.Hour)))},
		{StapleRevoked, parsesFor(ocsp.Revoked, nil)},
		{StapleStale, parsesFor(ocsp.Good, func(t *testing.T, r *ocsp.Response) {
			if !r.NextUpdate.Equal(now.Add(-time.Hour)) {
				t.Fatalf("nextUpdate = %v, want an hour ago (%v)", r.NextUpdate, now.Add(-time.Hour))
			}
		})},
		{StapleNotYetValid, parsesFor(ocsp.Good, func(t *testing.T, r *ocsp.Response) {
			if !r.ThisUpdate.Equal(now.Add(time.Hour)) {
				t.Fatalf("thisUpdate = %v, want in an hour (%v)", r.ThisUpdate, now.Add(time.Hour))
			}
		})},
		{StapleOtherSerial, func(t *testing.T, der []byte, cert, issuer *x509.Certificate) {
			r, err := ocsp.ParseResponse(der, issuer)
			if err != nil {
				t.Fatalf("staple not signed by the issuer: %v", err)
			}
			if r.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				t.Fatal("staple speaks for the certificate's own serial")
			}
		}},
		{StapleUnrelated, func(t *testing.T, der []byte, cert, issuer *x509.Certificate) {
			if _, err := ocsp.ParseResponse(der, nil); err != nil {
				t.Fatalf("unrelated staple should still parse: %v", err)
			}
			if _, err := ocsp.ParseResponseForCert(der, cert, issuer); err == nil {
				t.Fatal("unrelated staple verified against the real issuer")
			}
		}},
		{StapleGarbage, func(t *testing.T, der []byte, cert, issuer *x509.Certificate) {
			if _, err := ocsp.ParseResponse(der, nil); err == nil {
				t.Fatal("garbage parsed as an OCSP response")
			}
		}},
		{StapleDelegated, parsesFor(ocsp.Good, func(t *testing.T, r *ocsp.Response) {
			if r.Certificate == nil || !slices.Contains(r.Certificate.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
				t.Fatal("delegated staple does not embed an OCSP-signing responder certificate")
			}
		})},
	}
	certs := []struct {
		name         string
		cert, issuer *x509.Certificate
		faults       func(StapleFault) Faults
	}{
		{"signer", p.Signer.Cert, p.Intermediate.Cert, func(f StapleFault) Faults { return Faults{SignerStaple: f} }},
		{"intermediate", p.Intermediate.Cert, p.Root.Cert, func(f StapleFault) Faults { return Faults{IntermediateStaple: f} }},
	}
	for _, c := range certs {
		for _, tc := range tests {
			t.Run(c.name+"-"+tc.fault.String(), func(t *testing.T) {
				e.SetFaults(c.faults(tc.fault))
				a := get(t, srv, ocspPath+"/"+pki.StapleName(c.cert))
				if a.status != http.StatusOK {
					t.Fatalf("status = %d, want 200", a.status)
				}
				der, err := base64.StdEncoding.DecodeString(a.body)
				if err != nil {
					t.Fatalf("staple is not base64: %v", err)
				}
				tc.check(t, der, c.cert, c.issuer)
			})
		}
	}
	t.Run("staple-follows-the-clock", func(t *testing.T) {
		e.SetFaults(Faults{})
		clk.Advance(48 * time.Hour)
		defer clk.Advance(-48 * time.Hour)
		der, err := e.StapleDER(p.Signer.Cert, StapleGood)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ocsp.ParseResponseForCert(der, p.Signer.Cert, p.Intermediate.Cert)
		if err != nil {
			t.Fatal(err)
		}
		if want := now.Add(47 * time.Hour); !r.ThisUpdate.Equal(want) {
			t.Fatalf("thisUpdate = %v, want %v", r.ThisUpdate, want)
		}
	})
	t.Run("missing-has-no-body", func(t *testing.T) {
		if _, err := e.StapleDER(p.Signer.Cert, StapleMissing); err == nil {
			t.Fatal("StapleDER(StapleMissing) succeeded")
		}
	})
}
