package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

const testUser = "ec2-user"

// clock is a settable clock shared by the service and the emulator.
type clock = testkit.Clock

func newClock() *clock { return testkit.NewClock(time.Now()) }

// The signer's RSA key dominates setup time: one hierarchy serves every test (RotateSigner
// and RevokeSigner change only the emulator's own copy).
var (
	pkiOnce sync.Once
	pkiVal  *pki.PKI
	pkiErr  error
)

func testPKI(t testing.TB) *pki.PKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = pki.New(pki.Options{}) })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

type fixture struct {
	t     testing.TB
	clk   *clock
	emu   *emulator.Emulator
	srv   *httptest.Server
	tap   *imdsTap // between the service and the emulator
	dir   string
	caPEM string // the trust store file
	cfg   config.Config
	logs  *observer.ObservedLogs
	svc   *Service
	// gate, when set, holds every active-keys answer (made before the hold) until it is
	// closed; arrived receives one value per held request.
	gate    chan struct{}
	arrived chan struct{}
}

type setup struct {
	keyMemory time.Duration
	maxAge    time.Duration
	notEC2    bool
	gated     bool
	pki       *pki.PKI // default testPKI
	getent    string   // users.getent (default "none")

	// revocationCheck is service.revocation_check (default the config default).
	revocationCheck time.Duration
}

func newFixture(t testing.TB, s setup) *fixture {
	t.Helper()
	f := &fixture{t: t, clk: newClock(), dir: t.TempDir()}
	if s.pki == nil {
		s.pki = testPKI(t)
	}
	emu, err := emulator.New(emulator.Config{PKI: s.pki, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.emu = emu
	f.tap = &imdsTap{next: emu}
	var h http.Handler = f.tap
	if s.gated {
		f.gate, f.arrived = make(chan struct{}), make(chan struct{}, 64)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.URL.Path, "/active-keys/") {
				f.tap.ServeHTTP(w, r)
				return
			}
			// The answer is made before the hold, so a key pushed meanwhile is not in it.
			rec := httptest.NewRecorder()
			f.tap.ServeHTTP(rec, r)
			f.arrived <- struct{}{}
			select {
			case <-f.gate:
			case <-r.Context().Done():
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(func() { emu.Close(); f.srv.Close() })

	f.caPEM = filepath.Join(f.dir, "ca", "roots.pem")
	f.write(f.caPEM, emu.RootPEM())
	sysfs := filepath.Join(f.dir, "sys")
	if !s.notEC2 {
		f.write(filepath.Join(sysfs, "devices/virtual/dmi/id/board_asset_tag"), []byte(emu.InstanceID()+"\n"))
	} else if err := os.MkdirAll(sysfs, 0o755); err != nil {
		t.Fatal(err)
	}

	cfg := config.Default()
	cfg.IMDS.Endpoint = f.srv.URL
	cfg.Trust.CA = f.caPEM
	cfg.Platform.SysfsRoot = sysfs
	cfg.Users.Getent = "none"
	if s.getent != "" {
		cfg.Users.Getent = s.getent
	}
	if s.keyMemory != 0 {
		cfg.Service.KeyMemory.Duration = s.keyMemory
	}
	if s.maxAge != 0 {
		cfg.Service.SignerMaxAge.Duration = s.maxAge
	}
	if s.revocationCheck != 0 {
		cfg.Service.RevocationCheck.Duration = s.revocationCheck
	}
	f.cfg = cfg

	core, logs := observer.New(zap.DebugLevel)
	f.logs = logs
	svc, err := New(Config{File: cfg, Log: zap.New(core), Now: f.clk.Now, Debounce: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	f.svc = svc
	return f
}

func (f *fixture) write(path string, data []byte) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // as update-ca-certificates does
		f.t.Fatal(err)
	}
}

func (f *fixture) warm() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.svc.Warm(ctx); err != nil {
		f.t.Fatal(err)
	}
}

// push pushes a fresh Ed25519 key for user and returns its fingerprint.
func (f *fixture) push(user string, ttl time.Duration) *keys.Fingerprint {
	f.t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		f.t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	if _, err := f.emu.Push(emulator.Push{OSUser: user, PublicKey: line, TTL: ttl}); err != nil {
		f.t.Fatal(err)
	}
	fp, err := keys.ParseFingerprint(ssh.FingerprintSHA256(k))
	if err != nil {
		f.t.Fatal(err)
	}
	return &fp
}

func (f *fixture) lookup(user string, fp *keys.Fingerprint) (lookup.Result, error) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.svc.Answer(ctx, lookup.Query{User: user, Fingerprint: fp})
}

// login is what sshd does for one key: the query, then the signed attempt, both with %f.
func (f *fixture) login(user string, fp *keys.Fingerprint) {
	f.t.Helper()
	for _, phase := range []string{"query", "signed attempt"} {
		res, err := f.lookup(user, fp)
		if err != nil {
			f.t.Fatalf("%s: %v", phase, err)
		}
		if !accepts(res, fp) {
			f.t.Fatalf("%s: key %s not accepted; outcome %s, rejected %+v", phase, fp, res.Outcome, res.Rejected)
		}
	}
}

func accepts(res lookup.Result, fp *keys.Fingerprint) bool {
	for _, a := range res.Accepted {
		if fp.Matches(a.Key) {
			return true
		}
	}
	return false
}

func reasons(res lookup.Result) []keys.Reason {
	var out []keys.Reason
	for _, r := range res.Rejected {
		out = append(out, r.Reason)
	}
	return out
}

// Paths the emulator counts.
var keysPath = testkit.KeysPath(testUser)

const (
	chainPath   = testkit.ChainPath
	staplesPath = testkit.StaplesPath
	tokenPath   = testkit.TokenPath
)

func (f *fixture) logged(msg string) func() bool {
	return func() bool { return f.logs.FilterMessageSnippet(msg).Len() > 0 }
}

// loggedTimes reports whether msg has been logged exactly n times.
func (f *fixture) loggedTimes(msg string, n int) func() bool {
	return func() bool { return f.logs.FilterMessageSnippet(msg).Len() == n }
}
