package lookup

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/nss"
)

// BenchmarkDirectLookup is one helper run in direct mode, as sshd causes it: a fresh IMDS
// client (so a fresh token), the whole chain and staple verification, one accepted key.
func BenchmarkDirectLookup(b *testing.B) {
	emu, err := emulator.New(emulator.Config{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	dir := b.TempDir()
	tag := filepath.Join(dir, "devices/virtual/dmi/id/board_asset_tag")
	if err := os.MkdirAll(filepath.Dir(tag), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(tag, []byte(emu.InstanceID()), 0o644); err != nil {
		b.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, emu.RootPEM(), 0o644); err != nil {
		b.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := emu.Push(emulator.Push{OSUser: "alice", PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))), TTL: time.Hour}); err != nil {
		b.Fatal(err)
	}
	fp, err := keys.ParseFingerprint(ssh.FingerprintSHA256(key))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := config.Default()
		f.IMDS.Endpoint, f.Platform.SysfsRoot, f.Users.Getent, f.Trust.CA = srv.URL, dir, nss.None, ca
		res, err := Login(context.Background(), NewDirect(f, nil), Query{User: "alice", Fingerprint: &fp}, time.Now)
		if err != nil || len(res.Accepted) != 1 {
			b.Fatalf("lookup: %v, %d keys", err, len(res.Accepted))
		}
	}
	b.ReportMetric(float64(emu.Total())/float64(b.N), "imds-requests/op")
}
