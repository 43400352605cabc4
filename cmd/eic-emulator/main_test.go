package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ocsp"
	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/imds"
	"github.com/eic-agent/eic-agent/agent/signer"
)

// The test binary doubles as eic-emulator: run with this variable set, it runs main.
const runMainEnv = "EIC_EMULATOR_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// command makes an eic-emulator process with args.
func command(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, *testenv.SyncBuffer, *testenv.SyncBuffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	stdout, stderr := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd, stdout, stderr
}

// runBinary runs eic-emulator to completion and returns stdout, stderr and the exit status.
func runBinary(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, stdout, stderr := command(t, ctx, args...)
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run eic-emulator %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// server is a running `eic-emulator serve` process.
type server struct {
	cmd           *exec.Cmd
	stderr        *testenv.SyncBuffer
	imds, control string
	exited        chan error
}

// startServer starts serve with args plus --ready-file, and waits for the ready file.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd, _, stderr := command(t, ctx, append(args, "--ready-file", ready)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: stderr, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := os.ReadFile(ready); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				k, v, _ := strings.Cut(line, "=")
				switch k {
				case "imds":
					s.imds = v
				case "control":
					s.control = v
				}
			}
			return s
		}
		select {
		case err := <-s.exited:
			t.Fatalf("serve exited before it was ready: %v\n%s", err, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after a minute:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond) // polling a file with a deadline, not synchronising on time
	}
}

// stop sends SIGTERM and returns the exit status.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	return s.cmd.ProcessState.ExitCode()
}

func writeKey(t *testing.T) (path, line string) {
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
	path = filepath.Join(t.TempDir(), "id_ed25519.pub")
	if err := os.WriteFile(path, []byte(line+" alice@laptop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, line
}

func TestServePushAndDrive(t *testing.T) {
	keyFile, keyLine := writeKey(t)
	rootFile := filepath.Join(t.TempDir(), "root.pem")
	s := startServer(t, "serve", "--imds", "127.0.0.1:0", "--control", "127.0.0.1:0",
		"--instance-id", "i-0fedcba9876543210", "--region", "eu-west-1", "--zone", "eu-west-1b",
		"--root-ca-out", rootFile, "--staple-certs", "issuer-chain")
	ctl := "--control=" + s.control
	c := imds.New(imds.Config{Endpoint: "http://" + s.imds})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("push-answers-like-the-aws-cli", func(t *testing.T) {
		out, stderr, code := runBinary(t, "push", ctl, "--user", "alice", "--key", keyFile)
		var ans map[string]any
		if err := json.Unmarshal([]byte(out), &ans); code != 0 || err != nil || ans["Success"] != true || ans["RequestId"] == "" {
			t.Fatalf("push exit %d, stdout %q, stderr %q; want 0 and {RequestId, Success: true}", code, out, stderr)
		}
		bundle, err := c.Keys(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(bundle), "#Request="+ans["RequestId"].(string)+"\n"+keyLine+" alice@laptop\n") {
			t.Fatalf("bundle lacks the pushed key:\n%s", bundle)
		}
	})
	t.Run("served-chain-verifies-to-root-ca", func(t *testing.T) {
		out, _, code := runBinary(t, "root-ca", ctl)
		file, err := os.ReadFile(rootFile)
		if code != 0 || err != nil || out != string(file) {
			t.Fatalf("root-ca exit %d printed %q; --root-ca-out wrote %q (%v)", code, out, file, err)
		}
		chain, err := c.SignerChain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		verifyChain(t, chain, file, "managed-ssh-signer.eu-west-1.amazonaws.com")
	})
	t.Run("staple-certs-form-reaches-the-verifier", func(t *testing.T) {
		root, err := os.ReadFile(rootFile)
		if err != nil {
			t.Fatal(err)
		}
		// The form served from the start, then a switch at run time. x/crypto/ocsp exposes the
		// first certificate of the certs field: the issuer in one form, nothing in the other.
		for _, tc := range []struct {
			form          string
			issuerInCerts bool
		}{{"issuer-chain", true}, {"default", false}} {
			if tc.form != "issuer-chain" {
				if out, stderr, code := runBinary(t, "staple-certs", ctl, tc.form); code != 0 || out != tc.form+"\n" {
					t.Fatalf("staple-certs %s: exit %d, stdout %q, stderr %q", tc.form, code, out, stderr)
				}
			}
			if out, _, code := runBinary(t, "staple-certs", ctl); code != 0 || out != tc.form+"\n" {
				t.Fatalf("staple-certs exit %d printed %q, want %s", code, out, tc.form)
			}
			chain, staples := verifySigner(t, ctx, c, root, "managed-ssh-signer.eu-west-1.amazonaws.com")
			r, err := ocsp.ParseResponse(staples[0], nil) // IMDS lists the signer's staple first
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Certificate != nil && r.Certificate.Equal(chain[1]); got != tc.issuerInCerts {
				t.Fatalf("%s: the signer staple carries the intermediate first: %v, want %v", tc.form, got, tc.issuerInCerts)
			}
		}
	})
	t.Run("fault-reaches-the-imds-client", func(t *testing.T) {
		if out, stderr, code := runBinary(t, "fault", ctl, "--domain", "attacker.example"); code != 0 {
			t.Fatalf("fault exit %d: %s%s", code, out, stderr)
		}
		got, err := c.Domain(ctx)
		if err != nil || got != "attacker.example" {
			t.Fatalf("domain = %q, %v; want attacker.example", got, err)
		}
		if _, stderr, code := runBinary(t, "fault", ctl, "--clear"); code != 0 {
			t.Fatalf("fault --clear exit %d: %s", code, stderr)
		}
	})
	t.Run("counts-lines", func(t *testing.T) {
		runBinary(t, "counts", ctl, "--reset")
		fresh := imds.New(imds.Config{Endpoint: "http://" + s.imds}) // no cached token
		if _, err := fresh.InstanceID(ctx); err != nil {
			t.Fatal(err)
		}
		out, _, code := runBinary(t, "counts", ctl)
		if want := "1 /latest/api/token\n1 /latest/meta-data/instance-id\n2 total\n"; code != 0 || out != want {
			t.Fatalf("counts exit %d:\n%s\nwant:\n%s", code, out, want)
		}
	})
	t.Run("sigterm-stops-cleanly", func(t *testing.T) {
		if code := s.stop(t); code != 0 {
			t.Fatalf("exit status after SIGTERM = %d, want 0\n%s", code, s.stderr)
		}
		if logs := s.stderr.String(); !strings.Contains(logs, "stopped") {
			t.Fatalf("stderr lacks \"stopped\":\n%s", logs)
		}
	})
}

// The first command line had no subcommand; flags alone still serve, --listen meaning --imds.
func TestOldCommandLineServes(t *testing.T) {
	keyFile, keyLine := writeKey(t)
	s := startServer(t, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--user", "alice", "--pubkey", keyFile)
	c := imds.New(imds.Config{Endpoint: "http://" + s.imds})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bundle, err := c.Keys(ctx, "alice")
	if err != nil || !strings.Contains(string(bundle), "\n"+keyLine+" alice@laptop\n") {
		t.Fatalf("bundle %q, %v; want the key pushed at start", bundle, err)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit status after SIGTERM = %d, want 0", code)
	}
}

func TestExitStatus(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name     string
		args     []string
		code     int
		oneLine  bool   // stderr is exactly one line
		inStderr string // stderr contains
	}{
		// -h and --help: ux_test.go (the usage asked for is on stdout).
		{"no-command-is-usage", nil, 2, false, "commands:"},
		{"unknown-command-is-usage", []string{"bogus"}, 2, false, `unknown command "bogus"`},
		{"missing-flag-is-usage", []string{"push", "--user", "alice"}, 2, false, "--key are required"},
		{"unknown-staple-certs-form-is-usage", []string{"staple-certs", "--control", nobody, "bogus"}, 2, false, `unknown staple certs form "bogus"`},
		{"unreachable-control-is-failure", []string{"counts", "--control", nobody}, 1, true, "eic-emulator: control API GET"},
		{"bad-listen-address-is-failure", []string{"serve", "--imds", "256.0.0.1:80", "--control", "127.0.0.1:0"}, 1, true, "eic-emulator: listen for the IMDS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runBinary(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.inStderr)
			}
			if lines := strings.Count(stderr, "\n"); tc.oneLine && lines != 1 {
				t.Fatalf("stderr has %d lines, want one:\n%s", lines, stderr)
			}
		})
	}
}

// verifyChain checks the served chain leads from a signer named cn to the root in rootPEM.
func verifyChain(t *testing.T, chain, rootPEM []byte, cn string) {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatal("root PEM holds no certificate")
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
		t.Fatalf("served chain does not verify to the root: %v", err)
	}
	if diff := cmp.Diff(cn, certs[0].Subject.CommonName); diff != "" {
		t.Fatalf("signer CN (-want +got):\n%s", diff)
	}
}

// verifySigner fetches the chain and staples as the helper does and runs the production
// verifier on them, so a staple form the emulator serves is one a login accepts. It returns
// the verified chain and the DER staples in the order IMDS lists them.
func verifySigner(t *testing.T, ctx context.Context, c *imds.Client, rootPEM []byte, cn string) ([]*x509.Certificate, [][]byte) {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatal("root PEM holds no certificate")
	}
	chain, err := c.SignerChain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names, err := c.StapleNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := signer.Input{ChainPEM: chain, Roots: roots, ExpectedCN: cn, Now: time.Now()}
	for _, n := range names {
		b, err := c.Staple(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		der, err := signer.DecodeStaple(b)
		if err != nil {
			t.Fatal(err)
		}
		in.Staples = append(in.Staples, der)
	}
	s, err := signer.Verify(in)
	if err != nil {
		t.Fatalf("signer.Verify refused what the emulator serves: %v", err)
	}
	return s.Chain, in.Staples
}
