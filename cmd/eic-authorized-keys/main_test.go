package main

// End-to-end tests of the built binary: arguments in; stdout, exit status and log lines out,
// against the emulator on a real listener.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eic-authorized-keys-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "eic-authorized-keys")
	// Built as shipped (static), the way the e2e tests build it.
	if _, err := testenv.Build(dir, "eic-authorized-keys"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// pkis caches generated hierarchies per region/domain: RSA key generation dominates test time.
var pkis sync.Map

func testPKI(t *testing.T, region, domain string) *pki.PKI {
	t.Helper()
	k := region + "/" + domain
	if p, ok := pkis.Load(k); ok {
		return p.(*pki.PKI)
	}
	p, err := pki.New(pki.Options{Region: region, Domain: domain})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := pkis.LoadOrStore(k, p)
	return v.(*pki.PKI)
}

type fixture struct {
	emu    *emulator.Emulator
	srv    *httptest.Server
	dir    string
	config string
}

type setup struct {
	region, zone, domain string
	// pki overrides the emulator's hierarchy (e.g. one for another region).
	pki *pki.PKI
	// caPKI is the hierarchy whose root the helper trusts (default: the emulator's).
	caPKI  *pki.PKI
	extra  string // extra config lines (TOML, top level)
	getent string // users.getent (default "none")
	notEC2 bool
	// deadline is the helper's overall deadline (default 3s).
	deadline string
	// socket is service.socket (default: a path where nothing listens, so the helper falls back
	// to direct verification as when the service is not running).
	socket string
	// serviceOff sets service.enabled = false.
	serviceOff bool
}

func newFixture(t *testing.T, s setup) *fixture {
	t.Helper()
	if s.region == "" {
		s.region, s.zone = "us-east-1", "us-east-1a"
	}
	if s.domain == "" {
		s.domain = "amazonaws.com"
	}
	if s.pki == nil {
		s.pki = testPKI(t, s.region, s.domain)
	}
	if s.caPKI == nil {
		s.caPKI = s.pki
	}
	if s.getent == "" {
		s.getent = "none"
	}
	if s.deadline == "" {
		s.deadline = "3s"
	}
	if s.socket == "" {
		s.socket = filepath.Join(t.TempDir(), "no-agent.sock")
	}
	emu, err := emulator.New(emulator.Config{Region: s.region, Zone: s.zone, Domain: s.domain, PKI: s.pki})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { emu.Close(); srv.Close() })
	dir := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := write("ca.pem", string(s.caPKI.RootPEM()))
	sysfs := filepath.Join(dir, "sys")
	if err := os.MkdirAll(sysfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if !s.notEC2 {
		write("sys/devices/virtual/dmi/id/board_asset_tag", emu.InstanceID()+"\n")
	}
	cfg := write("config.toml", fmt.Sprintf(`deadline = %q
%s
[imds]
endpoint = %q
request_timeout = "1s"
[trust]
ca = %q
[platform]
sysfs_root = %q
[users]
getent = %q
[log]
target = "stderr"
level = "debug"
[service]
enabled = %t
socket = %q
user = %q
`, s.deadline, s.extra, srv.URL, ca, sysfs, s.getent, !s.serviceOff, s.socket, serviceUser()))
	return &fixture{emu: emu, srv: srv, dir: dir, config: cfg}
}

// serviceUser is the account the test's own service runs as: the user running the tests, so
// that the helper trusts it (root is always trusted).
func serviceUser() string {
	if u, err := user.Current(); err == nil && regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`).MatchString(u.Username) {
		return u.Username
	}
	return "root"
}

type outcome struct {
	stdout, stderr string
	code           int
}

func (f *fixture) run(t *testing.T, args ...string) outcome {
	t.Helper()
	return runBin(t, append([]string{"--config", f.config}, args...)...)
}

func runBin(t *testing.T, args ...string) outcome {
	t.Helper()
	// The safety timeout only stops a broken binary from hanging the suite; no test relies on it.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = []string{} // sshd empties the environment
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return outcome{stdout.String(), stderr.String(), code}
}

func (f *fixture) push(t *testing.T, user string, key ssh.PublicKey) string {
	t.Helper()
	id, err := f.emu.Push(emulator.Push{OSUser: user, PublicKey: testkit.Line(key)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newKey is testkit.Key, plus "sk-ed25519": a FIDO security key's public half, which only an
// authenticator could sign with.
func newKey(t *testing.T, kind string) ssh.PublicKey {
	t.Helper()
	if kind != "sk-ed25519" {
		return testkit.Key(t, kind)
	}
	p, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.ParsePublicKey(ssh.Marshal(struct {
		Type, Key, App string
	}{"sk-ssh-ed25519@openssh.com", string(p), "ssh:"}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q; got:\n%s", what, w, got)
		}
	}
}
