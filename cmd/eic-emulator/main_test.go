package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/imds"
)

// syncBuffer collects stderr written from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeKey(t *testing.T, dir string) (path, line string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	path = filepath.Join(dir, "id_ed25519.pub")
	if err := os.WriteFile(path, []byte(line+" alice@laptop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, line
}

func TestServesPushedKeyAndWritesRoot(t *testing.T) {
	dir := t.TempDir()
	keyFile, keyLine := writeKey(t, dir)
	rootFile := filepath.Join(dir, "root.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--instance-id", "i-0fedcba9876543210",
			"--region", "eu-west-1", "--zone", "eu-west-1b", "--root-ca-out", rootFile,
			"--user", "alice", "--pubkey", keyFile}, stderr, func(a string) { addrs <- a })
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("run returned before serving: %v\n%s", err, stderr)
	}

	c := imds.New(imds.Config{Endpoint: "http://" + addr})
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	var got []string
	for _, fn := range []func(context.Context) (string, error){c.InstanceID, c.Region, c.Zone, c.Domain} {
		v, err := fn(rctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if diff := cmp.Diff([]string{"i-0fedcba9876543210", "eu-west-1", "eu-west-1b", "amazonaws.com"}, got); diff != "" {
		t.Errorf("served identity (-want +got):\n%s", diff)
	}
	bundle, err := c.Keys(rctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(bundle), "\n"+keyLine+" alice@laptop\n") {
		t.Errorf("bundle does not hold the key from %s:\n%s", keyFile, bundle)
	}
	chain, err := c.SignerChain(rctx)
	if err != nil {
		t.Fatal(err)
	}
	verifyChain(t, chain, rootFile, "managed-ssh-signer.eu-west-1.amazonaws.com")

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	logs := stderr.String()
	for _, want := range []string{"pushed " + keyFile + " for alice", "GET /latest/meta-data/instance-id 200", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, logs)
		}
	}
}

// verifyChain checks the served chain leads from a signer named cn to the root in rootFile.
func verifyChain(t *testing.T, chain []byte, rootFile, cn string) {
	t.Helper()
	rootPEM, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("%s holds no certificate", rootFile)
	}
	var certs []*x509.Certificate
	for rest := chain; ; {
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
	if len(certs) < 2 {
		t.Fatalf("chain has %d certificates, want signer and intermediate", len(certs))
	}
	inter := x509.NewCertPool()
	inter.AddCert(certs[1])
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("served chain does not verify to the written root: %v", err)
	}
	if certs[0].Subject.CommonName != cn {
		t.Fatalf("signer CN = %q, want %q", certs[0].Subject.CommonName, cn)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	keyFile, _ := writeKey(t, dir)
	short := filepath.Join(dir, "short.pub")
	if err := os.WriteFile(short, []byte("ssh-ed25519 AAAA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		usage bool // a usage error (exit 2) rather than a failure (exit 1)
	}{
		{"user-without-pubkey", []string{"--user", "alice"}, true},
		{"pubkey-without-user", []string{"--pubkey", keyFile}, true},
		{"unknown-flag", []string{"--bogus"}, true},
		{"stray-argument", []string{"serve"}, true},
		{"unreadable-pubkey", []string{"--user", "alice", "--pubkey", filepath.Join(dir, "missing.pub")}, false},
		{"invalid-pubkey", []string{"--user", "alice", "--pubkey", short}, false},
		{"invalid-user", []string{"--user", "9lives", "--pubkey", keyFile}, false},
		{"bad-listen-address", []string{"--listen", "256.0.0.1:http"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, tc.args, &syncBuffer{}, func(string) { t.Error("served despite bad arguments") })
			if err == nil {
				t.Fatal("run succeeded, want an error")
			}
			if got := errors.Is(err, errUsage); got != tc.usage {
				t.Fatalf("usage error = %v, want %v (err %v)", got, tc.usage, err)
			}
		})
	}
}
