package control

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv"

	"github.com/google/go-cmp/cmp"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// cli runs one command line in-process and returns its stdout and stderr.
func cli(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr testenv.SyncBuffer
	err := (&Command{Stdout: &stdout, Stderr: &stderr}).Run(testContext(t), args)
	return stdout.String(), stderr.String(), err
}

// served is a running `serve`.
type served struct {
	imds, control string // addresses
	stderr        *testenv.SyncBuffer
	stop          func() error // cancels serve and returns Run's result
}

func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{stderr: &testenv.SyncBuffer{}}
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	cmd := &Command{Stdout: &testenv.SyncBuffer{}, Stderr: s.stderr, Ready: func(i, c string) { ready <- [2]string{i, c} }}
	go func() { done <- cmd.Run(ctx, args) }()
	select {
	case a := <-ready:
		s.imds, s.control = a[0], a[1]
	case err := <-done:
		cancel()
		t.Fatalf("serve returned before it was ready: %v\n%s", err, s.stderr)
	}
	var once sync.Once
	var result error
	s.stop = func() error {
		once.Do(func() { cancel(); result = <-done })
		return result
	}
	t.Cleanup(func() { s.stop() })
	return s
}

func TestCommandServeAndDrive(t *testing.T) {
	dir := t.TempDir()
	rootFile, readyFile := filepath.Join(dir, "root.pem"), filepath.Join(dir, "ready")
	keyFile, keyLine := newKey(t)
	s := startServe(t, "serve", "--imds", "127.0.0.1:0", "--control", "127.0.0.1:0",
		"--instance-id", "i-0fedcba9876543210", "--region", "eu-west-1", "--zone", "eu-west-1b",
		"--root-ca-out", rootFile, "--ready-file", readyFile, "--staple-certs", "issuer")
	imds, ctl := "http://"+s.imds, s.control
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, stderr, err := cli(t, append(args, "--control", ctl)...)
		if err != nil {
			t.Fatalf("eic-emulator %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}

	t.Run("ready-file-names-both-listeners", func(t *testing.T) {
		b, err := os.ReadFile(readyFile)
		if want := "imds=" + s.imds + "\ncontrol=" + s.control + "\n"; err != nil || string(b) != want {
			t.Fatalf("ready file = %q, %v; want %q", b, err, want)
		}
	})
	t.Run("push-prints-the-aws-answer-and-serves-the-key", func(t *testing.T) {
		out := run(t, "push", "--user", "alice", "--key", keyFile, "--ttl", "90s", "--caller", "arn:aws:iam::1:user/a")
		var ans struct {
			RequestID string `json:"RequestId"`
			Success   bool   `json:"Success"`
		}
		if err := json.Unmarshal([]byte(out), &ans); err != nil || !ans.Success || !uuidPattern.MatchString(ans.RequestID) {
			t.Fatalf("push printed %q, want {\"RequestId\": UUID, \"Success\": true}", out)
		}
		_, body := imdsGet(t, imds, testkit.KeysPath("alice")+"/")
		for _, want := range []string{"#Instance=i-0fedcba9876543210", "#Request=" + ans.RequestID, "\n" + keyLine + " alice@laptop\n"} {
			if !strings.Contains(body, want) {
				t.Fatalf("bundle lacks %q:\n%s", want, body)
			}
		}
	})
	t.Run("root-ca-prints-the-written-root-and-the-chain-verifies", func(t *testing.T) {
		out := run(t, "root-ca")
		file, err := os.ReadFile(rootFile)
		if err != nil || out != string(file) {
			t.Fatalf("root-ca printed %q, --root-ca-out wrote %q (%v)", out, file, err)
		}
		_, chain := imdsGet(t, imds, emulator.MetaPrefix+"managed-ssh-keys/signer-cert")
		verifyChain(t, chain, file, "managed-ssh-signer.eu-west-1.amazonaws.com")
	})
	t.Run("fault-sets-merges-and-clears", func(t *testing.T) {
		steps := []struct {
			args []string
			want string
		}{
			{[]string{"fault", "--latency", "1ms", "--signer-staple", "forged"}, `{"latency":"1ms","signer_staple":"unrelated"}`},
			{[]string{"fault", "--throttle", "--latency", "0"}, `{"throttle":true,"signer_staple":"unrelated"}`},
			{[]string{"fault"}, `{"throttle":true,"signer_staple":"unrelated"}`},
			{[]string{"fault", "--clear", "--reset"}, `{"reset":true}`},
			{[]string{"fault", "--clear"}, `{}`},
		}
		for _, st := range steps {
			out := run(t, st.args...)
			var compact bytes.Buffer
			if err := json.Compact(&compact, []byte(out)); err != nil || compact.String() != st.want {
				t.Fatalf("%v printed %q, want %s", st.args, out, st.want)
			}
		}
	})
	t.Run("throttle-fault-reaches-imds", func(t *testing.T) {
		run(t, "fault", "--throttle")
		defer run(t, "fault", "--clear")
		if status, _ := imdsGet(t, imds, emulator.MetaPrefix+"instance-id"); status != http.StatusTooManyRequests {
			t.Fatalf("status = %d, want 429", status)
		}
	})
	t.Run("reset-fault-passes-the-request-log", func(t *testing.T) {
		run(t, "fault", "--reset")
		defer run(t, "fault", "--clear")
		req, _ := http.NewRequestWithContext(testContext(t), http.MethodPut, imds+emulator.TokenPath, nil)
		req.Header.Set(emulator.TTLHeader, "60")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("got status %d, want the connection reset", resp.StatusCode)
		}
		// The client sees the reset before the handler returns and logs: poll for the line.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(s.stderr.String(), "imds PUT /latest/api/token reset") {
			if time.Now().After(deadline) {
				t.Fatalf("request log lacks the reset:\n%s", s.stderr)
			}
			time.Sleep(time.Millisecond) // polling a condition with a deadline, not synchronising on time
		}
	})
	t.Run("slow-drip-fault-serves-whole-bodies", func(t *testing.T) {
		run(t, "fault", "--slow-drip", "1ms")
		defer run(t, "fault", "--clear")
		if status, body := imdsGet(t, imds, emulator.MetaPrefix+"instance-id"); status != 200 || body != "i-0fedcba9876543210" {
			t.Fatalf("got %d %q, want 200 and the instance id", status, body)
		}
	})
	t.Run("counts-prints-sorted-paths-then-total", func(t *testing.T) {
		run(t, "counts", "--reset")
		imdsGet(t, imds, emulator.MetaPrefix+"placement/region/")
		imdsGet(t, imds, emulator.MetaPrefix+"instance-id")
		want := "2 /latest/api/token\n1 /latest/meta-data/instance-id\n1 /latest/meta-data/placement/region\n4 total\n" // a token per GET
		if diff := cmp.Diff(want, run(t, "counts", "--reset")); diff != "" {
			t.Fatalf("counts (-want +got):\n%s", diff)
		}
		if got := run(t, "counts"); got != "0 total\n" {
			t.Fatalf("counts after --reset = %q, want \"0 total\\n\"", got)
		}
	})
	t.Run("staple-certs-starts-as-served-switches-and-outlives-fault-clear", func(t *testing.T) {
		if !strings.Contains(s.stderr.String(), "staples carry the certs form issuer") {
			t.Errorf("serve did not log its staple certs form:\n%s", s.stderr)
		}
		steps := []struct {
			args []string
			want string
		}{
			{[]string{"staple-certs"}, "issuer\n"},
			{[]string{"staple-certs", "issuer-chain"}, "issuer-chain\n"}, // FORM before the flags
			{[]string{"fault", "--clear"}, "{}\n"},
			{[]string{"staple-certs"}, "issuer-chain\n"},
			{[]string{"staple-certs", "default"}, "default\n"},
		}
		for _, st := range steps {
			if got := run(t, st.args...); got != st.want {
				t.Fatalf("%v printed %q, want %q", st.args, got, st.want)
			}
		}
		out, stderr, err := cli(t, "staple-certs", "--control", ctl, "junk") // and after them
		if err != nil || out != "junk\n" {
			t.Fatalf("staple-certs --control ADDR junk: %q, %v\n%s", out, err, stderr)
		}
		run(t, "staple-certs", "default")
	})
	t.Run("rotate-and-revoke-name-the-certificate", func(t *testing.T) {
		line := regexp.MustCompile(`^(new signer|revoked) managed-ssh-signer\.eu-west-1\.amazonaws\.com serial [0-9A-F]+ \(staple name ([0-9A-F]{40})\), valid until \S+\n$`)
		rot := line.FindStringSubmatch(run(t, "rotate-signer"))
		rev := line.FindStringSubmatch(run(t, "revoke-signer"))
		if rot == nil || rev == nil || rot[1] != "new signer" || rev[1] != "revoked" || rot[2] != rev[2] {
			t.Fatalf("rotate-signer then revoke-signer printed %q and %q, want lines naming the same new certificate", rot, rev)
		}
		_, names := imdsGet(t, imds, emulator.MetaPrefix+"managed-ssh-keys/signer-ocsp")
		if !strings.HasPrefix(names, rot[2]+"\n") {
			t.Fatalf("staple names %q do not start with the new signer's %s", names, rot[2])
		}
	})
	t.Run("stops-cleanly-and-removes-the-ready-file", func(t *testing.T) {
		if err := s.stop(); err != nil {
			t.Fatalf("serve after cancel: %v", err)
		}
		if _, err := os.Stat(readyFile); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("ready file still there after stop: %v", err)
		}
		logs := s.stderr.String()
		for _, want := range []string{"imds GET /latest/meta-data/instance-id 200", "control POST /push 200", "stopped"} {
			if !strings.Contains(logs, want) {
				t.Errorf("stderr lacks %q:\n%s", want, logs)
			}
		}
	})
}

// verifyChain checks the served chain leads from a signer named cn to the root rootPEM.
func verifyChain(t *testing.T, chain string, rootPEM []byte, cn string) {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatal("root PEM holds no certificate")
	}
	var certs []*x509.Certificate
	for rest := []byte(chain); ; {
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
	if certs[0].Subject.CommonName != cn {
		t.Fatalf("signer CN = %q, want %q", certs[0].Subject.CommonName, cn)
	}
}

// closedAddr is an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestCommandErrors(t *testing.T) {
	keyFile, _ := newKey(t)
	dir := t.TempDir()
	private := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(private, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nobody := closedAddr(t)
	const (
		usage = iota
		help
		failure
		version
	)
	tests := []struct {
		name string
		args []string
		kind int
		want string // in stderr (usage) or in the error (failure)
	}{
		{"no-command-is-usage", nil, usage, "commands:"},
		{"unknown-command-is-usage", []string{"frobnicate"}, usage, `unknown command "frobnicate"`},
		{"help-flag", []string{"-h"}, help, "commands:"},
		{"long-help-flag", []string{"--help"}, help, "commands:"},
		{"help-command", []string{"help"}, help, "commands:"},
		{"subcommand-help", []string{"push", "-h"}, help, "usage: eic-emulator push"},
		{"subcommand-long-help", []string{"serve", "--help"}, help, "flags:"},
		{"staple-certs-help", []string{"staple-certs", "--help"}, help, "usage: eic-emulator staple-certs"},
		{"version-flag", []string{"--version"}, version, "eic-emulator test\n"},
		{"version-command", []string{"version"}, version, "eic-emulator test\n"},
		{"version-takes-no-arguments", []string{"version", "x"}, usage, "too many arguments"},
		{"push-needs-user-and-key", []string{"push", "--user", "alice"}, usage, "--user and --key are required"},
		{"push-ttl-in-whole-seconds", []string{"push", "--user", "a", "--key", keyFile, "--ttl", "1500ms"}, usage, "whole number of seconds"},
		{"stray-argument", []string{"counts", "extra"}, usage, `unexpected argument "extra"`},
		{"unknown-flag", []string{"fault", "--bogus"}, usage, "flag provided but not defined"},
		{"fault-unknown-staple", []string{"fault", "--control", nobody, "--signer-staple", "nope"}, usage, `unknown staple fault "nope"`},
		{"fault-bad-status", []string{"fault", "--control", nobody, "--status", "42"}, usage, "status 42"},
		{"fault-negative-drip", []string{"fault", "--control", nobody, "--slow-drip", "-1s"}, usage, "negative slow_drip"},
		{"serve-user-without-pubkey", []string{"serve", "--user", "alice"}, usage, "--user and --pubkey go together"},
		{"serve-unknown-certs-form", []string{"serve", "--staple-certs", "issuers"}, usage, `unknown staple certs form "issuers"`},
		{"staple-certs-unknown-form", []string{"staple-certs", "--control", nobody, "chain"}, usage, `unknown staple certs form "chain"`},
		{"staple-certs-one-form-only", []string{"staple-certs", "issuer", "junk"}, usage, `unexpected argument "junk"`},
		{"serve-listen-and-imds", []string{"serve", "--listen", "127.0.0.1:0", "--imds", "127.0.0.1:0"}, usage, "old name of --imds"},
		{"serve-one-address-for-both", []string{"serve", "--imds", "127.0.0.1:1338", "--control", "127.0.0.1:1338"}, usage, "own listener"},
		{"legacy-unknown-flag", []string{"--bogus"}, usage, "flag provided but not defined"},
		{"push-private-key-refused", []string{"push", "--control", nobody, "--user", "a", "--key", private}, failure, "private key"},
		{"push-missing-key-file", []string{"push", "--control", nobody, "--user", "a", "--key", filepath.Join(dir, "none.pub")}, failure, "no such file"},
		{"no-emulator-running", []string{"counts", "--control", nobody}, failure, "is `eic-emulator serve` running"},
		{"serve-on-a-bad-address", []string{"serve", "--imds", "256.0.0.1:80", "--control", "127.0.0.1:0"}, failure, "listen for the IMDS"},
		{"serve-invalid-start-key", []string{"serve", "--imds", "127.0.0.1:0", "--control", "127.0.0.1:0", "--user", "9lives", "--pubkey", keyFile}, failure, "InstanceOSUser"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var so, se testenv.SyncBuffer
			err := (&Command{Stdout: &so, Stderr: &se, Version: "test"}).Run(testContext(t), tc.args)
			stdout, stderr := so.String(), se.String()
			switch tc.kind {
			case usage:
				if !errors.Is(err, ErrUsage) || !strings.Contains(stderr, tc.want) {
					t.Fatalf("error %v, stderr %q; want a usage error and %q on stderr", err, stderr, tc.want)
				}
			case help: // asked for, the usage is output: stdout, and nothing on stderr
				if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stdout, tc.want) || stderr != "" {
					t.Fatalf("error %v, stdout %q, stderr %q; want flag.ErrHelp, %q on stdout and nothing on stderr", err, stdout, stderr, tc.want)
				}
			case version:
				if err != nil || stdout != tc.want || stderr != "" {
					t.Fatalf("error %v, stdout %q, stderr %q; want nil, %q and nothing", err, stdout, stderr, tc.want)
				}
			case failure:
				if err == nil || errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v; want one line, not a usage error, containing %q", err, tc.want)
				}
			}
		})
	}
}

func TestRequestLogKeepsFlushing(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := &statusWriter{ResponseWriter: rec, status: http.StatusOK}
	if err := http.NewResponseController(sw).Flush(); err != nil || !rec.Flushed {
		t.Fatalf("flush through the request log: %v, flushed %v; want it to reach the connection", err, rec.Flushed)
	}
}
