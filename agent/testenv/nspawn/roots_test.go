//go:build nspawn

package nspawn

// The cached debootstrapped roots, one per Debian suite, shared by every test in the package
// and between runs.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const (
	// cacheEnv names the directory holding one root per suite; mirrorEnv the Debian mirror
	// debootstrap uses (deb.debian.org still serves bullseye).
	cacheEnv     = "EIC_NSPAWN_CACHE"
	defaultCache = "/var/tmp/eic-nspawn"
	mirrorEnv    = "EIC_NSPAWN_MIRROR"
	// stamp marks a finished debootstrap; its content names what was asked for, so a cache
	// built with other packages is rebuilt rather than trusted.
	stamp = ".eic-nspawn-root"
	// Every root gets the same packages: a booted systemd, Debian's own sshd and ssh, ip for
	// the IMDS address, and rpm to run the .rpm's scriptlets. systemctl talks to systemd over
	// its private socket as root, so no dbus.
	rootPackages = "systemd,systemd-sysv,iproute2,openssh-server,openssh-client,rpm"
)

// cachedRoot returns the cached root of suite, debootstrapping it first when it is missing or
// was made for another package list. Tests running in parallel may ask for the same suite: a
// lock file beside the root lets one of them build it while the others wait.
func cachedRoot(t *testing.T, ctx context.Context, suite string) string {
	t.Helper()
	cache := os.Getenv(cacheEnv)
	if cache == "" {
		cache = defaultCache
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatalf("root cache %s: %v", cache, err)
	}
	dir := filepath.Join(cache, suite)
	want := suite + " " + rootPackages + "\n"

	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("lock root %s: %v", dir, err)
	}
	defer lock.Close() // closing releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock root %s: %v", dir, err)
	}

	if b, err := os.ReadFile(filepath.Join(dir, stamp)); err == nil && string(b) == want {
		return dir
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		skip(t, "no cached %s root at %s and debootstrap is missing: apt-get install debootstrap (make nspawn-deps)", suite, dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("remove stale root %s: %v", dir, err)
	}
	mirror := os.Getenv(mirrorEnv)
	if mirror == "" {
		mirror = "http://deb.debian.org/debian"
	}
	tmp := fmt.Sprintf("%s.tmp-%d", dir, os.Getpid())
	defer os.RemoveAll(tmp)
	start := time.Now()
	// In a private mount namespace: debootstrap mounts /proc and more inside its target, which
	// must never show on the host (other tests compare its mounts before and after a boot), nor
	// stay there when debootstrap is interrupted.
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private",
		"debootstrap", "--variant=minbase", "--include="+rootPackages, suite, tmp, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debootstrap %s into %s: %v\n%s", suite, tmp, err, tail(out, 40))
	}
	if err := os.WriteFile(filepath.Join(tmp, stamp), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	// Rename last, so an interrupted debootstrap never looks like a cache.
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatalf("cache root: %v", err)
	}
	t.Logf("debootstrapped %s into %s in %s", suite, dir, time.Since(start).Round(time.Second))
	return dir
}
