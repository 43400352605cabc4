//go:build nspawn

package nspawn

// The package suite: the real .deb and .rpm that `make packages` builds, installed, upgraded
// and removed in booted Debian 11, 12 and 13 containers next to Debian's own running sshd.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// oldVersion is the older build every upgrade starts from.
	oldVersion = "0.0.1"
	// officialDebDropIn is what the official deb's postinst writes, byte for byte
	// (aws/aws-ec2-instance-connect-config debian/postinst; agent/testenv's packaging tests
	// hold the same text).
	officialDebDropIn = "[Service]\nExecStart=\nExecStart=/usr/sbin/sshd -D -o \"AuthorizedKeysCommand /usr/share/ec2-instance-connect/eic_run_authorized_keys %%u %%f\" -o \"AuthorizedKeysCommandUser ec2-instance-connect\" $SSHD_OPTS\n"
)

// built are the packages under test.
type built struct {
	version                        string // the current one's
	newDeb, oldDeb, newRPM, oldRPM string
	emulator                       string // the eic-emulator binary, copied in, never packaged
}

// TestPackagesOnDebian boots each suite's root once (the three in parallel) with the current
// packages and older ones, and judges what its check script recorded. The packages are built
// once for the whole run (sharedPackages), while the roots that are missing are debootstrapped.
func TestPackagesOnDebian(t *testing.T) {
	if why := canRun(); why != "" {
		skip(t, "%s", why)
	}
	t.Parallel()
	// Cleanup, not defer: the parallel subtests run after this function returns.
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	t.Cleanup(cancel)

	// The Debian releases the packages must work on, with the openssh-server each ships.
	suites := []struct{ name, openssh string }{
		{"bullseye", "openssh-server\t1:8.4p1-"},
		{"bookworm", "openssh-server\t1:9.2p1-"},
		{"trixie", "openssh-server\t1:10.0p1-"},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			m := newMachine(t, "eic-pkg-"+s.name, cachedRoot(t, ctx, s.name))
			pkgs := sharedPackages(t, ctx)
			m.checkUnit(t, "testdata/eic-pkg-check.service", "testdata/eic-pkg-check.sh")
			copyFile(t, pkgs.emulator, filepath.Join(m.upper, "usr/local/bin/eic-emulator"), 0o755)
			for src, dst := range map[string]string{pkgs.newDeb: "new.deb", pkgs.oldDeb: "old.deb", pkgs.newRPM: "new.rpm", pkgs.oldRPM: "old.rpm"} {
				copyFile(t, src, filepath.Join(m.in, dst), 0o644)
			}
			write(t, filepath.Join(m.in, "official-dropin.conf"), []byte(officialDebDropIn), 0o644)
			write(t, filepath.Join(m.in, "env"), []byte("INSTANCE_ID='"+instanceID+"'\n"), 0o644)
			r := m.run(t, ctx, 12*time.Minute)
			judge(t, r, s.openssh, pkgs.version)
		})
	}
}

// shared is what the tests of one run build once and share: the packages and the emulator.
var shared struct {
	once sync.Once
	dir  string
	pkgs built
	err  error
}

// TestMain removes what the tests shared once every test is done with it.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedPackages builds the packages (buildPackages) on the run's first call, while the other
// tests debootstrap or boot, and returns them to every caller.
func sharedPackages(t *testing.T, ctx context.Context) built {
	t.Helper()
	shared.once.Do(func() {
		start := time.Now()
		if shared.dir, shared.err = os.MkdirTemp("", "eic-nspawn-pkgs-"); shared.err != nil {
			return
		}
		shared.pkgs, shared.err = buildPackages(ctx, shared.dir)
		t.Logf("built the %s and %s packages in %s", shared.pkgs.version, oldVersion, time.Since(start).Round(100*time.Millisecond))
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.pkgs
}

// buildPackages runs `make packages` for amd64 twice into dir, the current version (DIST
// dir/new) and oldVersion (dir/old), and builds the emulator.
func buildPackages(ctx context.Context, dir string) (built, error) {
	var b built
	repo, err := filepath.Abs("../../..")
	if err != nil {
		return b, err
	}
	out, err := exec.CommandContext(ctx, "sh", filepath.Join(repo, "packaging/version.sh")).Output()
	if err != nil {
		return b, fmt.Errorf("packaging/version.sh: %w", err)
	}
	b.version = strings.TrimSpace(string(out))
	for _, v := range []struct{ version, dist string }{{b.version, "new"}, {oldVersion, "old"}} {
		cmd := exec.CommandContext(ctx, "make", "-C", repo, "packages", "PKG_ARCHES=amd64",
			"PKG_VERSION="+v.version, "DIST="+filepath.Join(dir, v.dist))
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("make packages PKG_VERSION=%s: %w\n%s", v.version, err, tail(out, 30))
		}
	}
	for _, f := range []struct {
		p       *string
		pattern string
	}{{&b.newDeb, "new/*.deb"}, {&b.oldDeb, "old/*.deb"}, {&b.newRPM, "new/*.rpm"}, {&b.oldRPM, "old/*.rpm"}} {
		m, err := filepath.Glob(filepath.Join(dir, f.pattern))
		if err != nil || len(m) != 1 {
			return b, fmt.Errorf("make packages: want one file matching %s, got %v (%v)", f.pattern, m, err)
		}
		*f.p = m[0]
	}
	b.emulator = filepath.Join(dir, "eic-emulator")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", b.emulator, "github.com/eic-agent/eic-agent/cmd/eic-emulator")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return b, fmt.Errorf("go build eic-emulator: %w\n%s", err, out)
	}
	return b, nil
}
