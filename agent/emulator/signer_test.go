package emulator

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ocsp"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

func parseChain(t *testing.T, data string) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for rest := []byte(data); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) != 2 {
		t.Fatalf("chain has %d certificates, want signer and intermediate", len(certs))
	}
	return certs
}

// verifyPSS reports whether the served block b verifies with pub.
func verifyPSS(t *testing.T, b parsedBlock, pub *rsa.PublicKey) error {
	t.Helper()
	sig, err := base64.StdEncoding.DecodeString(strings.Join(b.sig, ""))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(strings.Join(append(append([]string{}, b.meta...), b.key), "\n") + "\n"))
	return rsa.VerifyPSS(pub, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256})
}

// stapleFor fetches the staple named after cert and parses it as a response for cert by issuer.
func stapleFor(t *testing.T, srv *httptest.Server, cert, issuer *x509.Certificate) *ocsp.Response {
	t.Helper()
	a := get(t, srv, ocspPath+"/"+pki.StapleName(cert))
	if a.status != http.StatusOK {
		t.Fatalf("staple status = %d, want 200", a.status)
	}
	der, err := base64.StdEncoding.DecodeString(a.body)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ocsp.ParseResponseForCert(der, cert, issuer)
	if err != nil {
		t.Fatalf("staple does not parse for %q: %v", cert.Subject.CommonName, err)
	}
	return r
}

func TestRotateSigner(t *testing.T) {
	e, srv, clk := start(t, Config{})
	shared := testPKI(t)
	before := e.PKI()
	oldKey := &before.SignerKey().PublicKey
	rootBefore := string(e.RootPEM())
	if _, err := e.Push(Push{OSUser: "alice", PublicKey: ed25519Key(t)}); err != nil {
		t.Fatal(err)
	}
	if err := e.RotateSigner(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Push(Push{OSUser: "alice", PublicKey: ed25519Key(t)}); err != nil {
		t.Fatal(err)
	}
	chain := parseChain(t, get(t, srv, MetaPrefix+"managed-ssh-keys/signer-cert").body)
	newKey, ok := chain[0].PublicKey.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("served signer key is %T, want RSA", chain[0].PublicKey)
	}
	blocks := parseBlocks(t, get(t, srv, keysPath+"alice/").body)
	if len(blocks) != 2 {
		t.Fatalf("got %d blocks, want 2", len(blocks))
	}

	t.Run("served-chain-has-the-new-signer", func(t *testing.T) {
		if chain[0].Equal(before.Signer.Cert) || newKey.Equal(oldKey) {
			t.Fatal("served signer certificate or key did not change")
		}
		if !chain[0].Equal(e.PKI().Signer.Cert) {
			t.Fatal("served signer is not PKI().Signer")
		}
	})
	t.Run("new-chain-verifies-under-the-same-root", func(t *testing.T) {
		if got := string(e.RootPEM()); got != rootBefore {
			t.Fatal("RootPEM changed")
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM([]byte(rootBefore))
		inter := x509.NewCertPool()
		inter.AddCert(chain[1])
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: clk.Now()}); err != nil {
			t.Fatalf("rotated chain does not verify to the old root: %v", err)
		}
	})
	t.Run("old-block-fails-with-the-new-key", func(t *testing.T) {
		if err := verifyPSS(t, blocks[0], newKey); err == nil {
			t.Fatal("block pushed before the rotation verifies with the new key")
		}
		if err := verifyPSS(t, blocks[0], oldKey); err != nil {
			t.Fatalf("block pushed before the rotation lost its old signature: %v", err)
		}
	})
	t.Run("new-block-verifies-with-the-new-key", func(t *testing.T) {
		if err := verifyPSS(t, blocks[1], newKey); err != nil {
			t.Fatalf("block pushed after the rotation: %v", err)
		}
	})
	t.Run("staples-follow-the-new-signer", func(t *testing.T) {
		names := strings.Split(get(t, srv, ocspPath).body, "\n")
		want := []string{pki.StapleName(chain[0]), pki.StapleName(chain[1])}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Fatalf("staple names (-want +got):\n%s", diff)
		}
		r := stapleFor(t, srv, chain[0], chain[1])
		if r.Status != ocsp.Good {
			t.Fatalf("new signer's staple status = %d, want good", r.Status)
		}
	})
	t.Run("config-pki-unchanged", func(t *testing.T) {
		if !shared.Signer.Cert.Equal(before.Signer.Cert) {
			t.Fatal("RotateSigner changed the PKI passed in Config")
		}
	})
}

func TestRevokeSigner(t *testing.T) {
	e, srv, _ := start(t, Config{})
	p := e.PKI()
	e.RevokeSigner()
	tests := []struct {
		name         string
		faults       Faults
		cert, issuer *x509.Certificate
		want         int
	}{
		{"signer-staple-revoked", Faults{}, p.Signer.Cert, p.Intermediate.Cert, ocsp.Revoked},
		{"delegated-signer-staple-revoked", Faults{SignerStaple: StapleDelegated}, p.Signer.Cert, p.Intermediate.Cert, ocsp.Revoked},
		{"intermediate-staple-still-good", Faults{}, p.Intermediate.Cert, p.Root.Cert, ocsp.Good},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.SetFaults(tc.faults)
			if r := stapleFor(t, srv, tc.cert, tc.issuer); r.Status != tc.want {
				t.Fatalf("status = %d, want %d", r.Status, tc.want)
			}
		})
	}
	t.Run("rotation-brings-a-good-signer", func(t *testing.T) {
		e.SetFaults(Faults{})
		if err := e.RotateSigner(); err != nil {
			t.Fatal(err)
		}
		q := e.PKI()
		if r := stapleFor(t, srv, q.Signer.Cert, q.Intermediate.Cert); r.Status != ocsp.Good {
			t.Fatalf("new signer's staple status = %d, want good", r.Status)
		}
	})
}

func TestStapleFaultNames(t *testing.T) {
	for _, name := range StapleFaultNames() {
		t.Run(name+"-round-trips", func(t *testing.T) {
			f, err := ParseStapleFault(name)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			var back StapleFault
			if err := json.Unmarshal(b, &back); err != nil || back != f || f.String() != name {
				t.Fatalf("%q -> %v -> %s -> %v (%v)", name, f, b, back, err)
			}
		})
	}
	t.Run("forged-is-unrelated", func(t *testing.T) {
		if f, err := ParseStapleFault("forged"); err != nil || f != StapleUnrelated {
			t.Fatalf("ParseStapleFault(forged) = %v, %v; want %v", f, err, StapleUnrelated)
		}
	})
	t.Run("unknown-name-refused", func(t *testing.T) {
		var f StapleFault
		if err := json.Unmarshal([]byte(`"bogus"`), &f); err == nil || !strings.Contains(err.Error(), "forged") {
			t.Fatalf("error = %v, want one listing the names", err)
		}
	})
	t.Run("out-of-range-not-marshalled", func(t *testing.T) {
		if _, err := json.Marshal(StapleFault(99)); err == nil {
			t.Fatal("marshalled StapleFault(99)")
		}
	})
}
