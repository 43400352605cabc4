package service

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// otherRoot is a self-signed CA that signed nothing the emulator serves.
func otherRoot(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "Unrelated Root"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTrustStoreChangeNoticed(t *testing.T) {
	f := newFixture(t, setup{keyMemory: time.Minute})
	f.warm()
	f.svc.Start()
	fp := f.push(testUser, time.Hour)
	f.login(testUser, fp)

	f.write(f.caPEM, otherRoot(t))
	testkit.WaitFor(t, "the trust store change to be noticed", func() bool {
		return f.logs.FilterMessageSnippet("cached signer dropped").Len() == 1
	})
	res, err := f.lookup(testUser, fp)
	if err == nil || len(res.Accepted) != 0 {
		t.Fatalf("after the root was removed from the trust store: %d keys accepted, err %v; want none and an error", len(res.Accepted), err)
	}

	f.write(f.caPEM, f.emu.RootPEM())
	testkit.WaitFor(t, "the trust store restore to be noticed", func() bool {
		return f.logs.FilterMessageSnippet("cached signer dropped").Len() == 2
	})
	f.login(testUser, fp)
}

func TestSystemTrustStoreWatched(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		touch string
	}{
		{"bundle-file-replaced", filepath.Join(dir, "bundle.crt")},
		{"file-added-to-directory", filepath.Join(certs, "new.pem")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{})
			f.svc.cfg.TrustFiles = []string{filepath.Join(dir, "bundle.crt"), filepath.Join(dir, "missing", "x.crt")}
			f.svc.cfg.TrustDirs = []string{certs}
			f.svc.cfg.File.Trust.CA = "" // watch the "system" locations above
			f.svc.Start()
			testkit.WaitFor(t, "the watcher to start", f.logged("watching the trust store"))
			f.write(tc.touch, []byte("x"))
			testkit.WaitFor(t, "the change to be noticed", f.logged("cached signer dropped"))
			entry := f.logs.FilterMessageSnippet("cached signer dropped").All()[0]
			// The fixture writes a temp file and renames it: either name may come first.
			if reason, _ := entry.ContextMap()["reason"].(string); !strings.HasPrefix(reason, "trust store changed: "+tc.touch) {
				t.Errorf("reason %q, want it to name %s", reason, tc.touch)
			}
		})
	}
}

func TestTrustWatchRelevant(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "etc", "roots.pem")
	caDir := filepath.Join(dir, "etc", "roots.d")
	for _, d := range []string{filepath.Dir(ca), caDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "etc", "link.pem")
	if err := os.Symlink(ca, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ca, event string
		want            bool
	}{
		{"configured-file", ca, ca, true},
		{"sibling-of-configured-file-ignored", ca, filepath.Join(dir, "etc", "other.conf"), false},
		{"symlink-target", link, ca, true},
		{"entry-of-configured-directory", caDir, filepath.Join(caDir, "a.pem"), true},
		{"configured-directory-replaced", caDir, caDir, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tw, err := newTrustWatch(tc.ca, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tw.close()
			if got := tw.relevant(tc.event); got != tc.want {
				t.Errorf("relevant(%s) = %v, want %v", tc.event, got, tc.want)
			}
		})
	}
}

func TestTrustWatchNothingToWatch(t *testing.T) {
	if _, err := newTrustWatch(filepath.Join(t.TempDir(), "no", "such", "ca.pem"), nil, nil); err == nil {
		t.Error("watching a trust store whose directory does not exist: no error")
	}
}
