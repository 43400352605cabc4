// Package testkit holds the small helpers every package's tests share: a settable clock, a
// poll with a deadline, throwaway SSH keys, the IMDS paths the emulator counts, and a place
// sshd would run a key command from. It imports nothing of this module, so the tests of any
// package, the leaves included, may use it.
package testkit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Clock is a settable clock, safe for concurrent use. Its Now goes where a func() time.Time
// clock is wanted (emulator.Config.Now, service.Config.Now).
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads t until it is advanced.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d (backwards when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// WaitFor polls cond until it holds, and fails the test when it does not within 20 seconds. It
// waits for a condition, never for time to pass.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// Key returns a fresh public key of kind: "ed25519" (also ""), "rsa" (2048 bits), "ecdsa-p256"
// or "ecdsa-p384".
func Key(t testing.TB, kind string) ssh.PublicKey {
	t.Helper()
	var signer crypto.Signer
	var err error
	switch kind {
	case "", "ed25519":
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ecdsa-p256":
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384":
		signer, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		t.Fatalf("testkit.Key: unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Line is k as one canonical authorized_keys line, "TYPE BASE64", without a newline.
func Line(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// IMDS paths, as the emulator counts requests.
const (
	TokenPath   = "/latest/api/token"
	MetaPrefix  = "/latest/meta-data/"
	ChainPath   = MetaPrefix + "managed-ssh-keys/signer-cert"
	StaplesPath = MetaPrefix + "managed-ssh-keys/signer-ocsp"
	keysPrefix  = MetaPrefix + "managed-ssh-keys/active-keys/"
)

// KeysPath is where IMDS serves user's key bundle.
func KeysPath(user string) string { return keysPrefix + user }

// SafeDir returns a fresh directory that passes sshd's rule for an AuthorizedKeysCommand's
// path: it and every directory above it are owned by root and not writable by group or
// others (so never under /tmp). That needs root: t is skipped, saying why, when the tests do
// not run as root or no such place exists. It is removed when t ends.
func SafeDir(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: a key command must be in a root-owned directory, as sshd requires")
	}
	for _, parent := range []string{"/run", "/var/lib"} {
		if !rootOnlyUpwards(parent) {
			continue
		}
		dir, err := os.MkdirTemp(parent, "eic-test-")
		if err != nil {
			continue
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Skip("no root-owned directory without group or world write access up to / (tried /run, /var/lib)")
	return ""
}

func rootOnlyUpwards(dir string) bool {
	for {
		st, err := os.Stat(dir)
		if err != nil {
			return false
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || sys.Uid != 0 || st.Mode().Perm()&0o022 != 0 {
			return false
		}
		if dir == "/" {
			return true
		}
		dir = filepath.Dir(dir)
	}
}

// ProcessGone reports whether process pid no longer runs: it is gone, or it is a zombie
// waiting to be reaped by its new parent.
func ProcessGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && bytes.HasPrefix(stat[i+1:], []byte(" Z"))
}

// Script writes an executable /bin/sh script with body into dir (SafeDir, when sshd or the
// helper's path rule must accept it) and returns its path.
func Script(t testing.TB, dir, body string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "script-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("#!/bin/sh\n" + body + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod(0o755); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// StopGroup ends process group pgid (what a pasted shell block left running, whose members are
// not the test's children): SIGTERM, then SIGKILL once grace has passed. It reports whether the
// group ended on SIGTERM (true also when nothing was left).
func StopGroup(pgid int, grace time.Duration) bool {
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return true // nothing left
	}
	deadline := time.Now().Add(grace)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling for exit: no other signal reaches a non-child
	}
	return true
}
