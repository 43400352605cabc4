package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/capture"
	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/testenv"
)

var (
	helperOnce sync.Once
	helperPath string
	helperErr  error
)

// helperBinary builds eic-authorized-keys next to eic-agent: the round trip runs the real
// verify, as a support engineer would.
func helperBinary(t *testing.T) string {
	t.Helper()
	helperOnce.Do(func() {
		dir := filepath.Dir(binPath)
		_, helperErr = testenv.Build(dir, "eic-authorized-keys")
		helperPath = filepath.Join(dir, "eic-authorized-keys")
	})
	if helperErr != nil {
		t.Fatal(helperErr)
	}
	return helperPath
}

type ran struct {
	stdout, stderr string
	code           int
}

func runIn(t *testing.T, dir string, argv ...string) ran {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return ran{out.String(), errb.String(), code}
}

// captureInstance is the emulator and a config for a direct-mode helper on it.
func captureInstance(t *testing.T) (*testenv.Instance, string) {
	t.Helper()
	in := testenv.NewInstance(t, nil)
	cfg := in.Write(t, "config.toml", fmt.Sprintf(`deadline = "5s"
[imds]
endpoint = %q
[trust]
ca = %q
[platform]
sysfs_root = %q
[users]
getent = "none"
[log]
target = "stderr"
[service]
enabled = false
`, in.URL, in.CA, in.Sys))
	return in, cfg
}

func pushKey(t *testing.T, emu *emulator.Emulator, ttl time.Duration) (line, fp string) {
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
	if _, err := emu.Push(emulator.Push{OSUser: testUser, PublicKey: line, TTL: ttl}); err != nil {
		t.Fatal(err)
	}
	return line, ssh.FingerprintSHA256(k)
}

// TestCaptureReplaysLikeTheLogin: the live login's verdict and the offline replay's are the same,
// for a key that is accepted and for one refused.
func TestCaptureReplaysLikeTheLogin(t *testing.T) {
	helper := helperBinary(t)
	tests := []struct {
		name       string
		ttl        time.Duration
		accepted   bool
		liveLog    string // in the live helper's log
		replayLog  string // in verify --explain's verdicts
		replayCode int
	}{
		{"accepted-key-accepted-offline", time.Minute, true, "Providing ssh key from EC2 Instance Connect", "accepted ssh-ed25519", 0},
		{"expired-key-refused-offline-as-expired", -10 * time.Second, false, "reason=expired", "rejected: expired", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, cfg := captureInstance(t)
			line, fp := pushKey(t, in.Emu, tc.ttl)
			live := runIn(t, in.Dir, helper, "--config", cfg, testUser, fp)
			if live.code != 0 || !strings.Contains(live.stderr, tc.liveLog) {
				t.Fatalf("live login: exit %d, log %q; want 0 and %q", live.code, live.stderr, tc.liveLog)
			}
			dir := filepath.Join(in.Dir, "case")
			c := runIn(t, in.Dir, binPath, "capture", "--config", cfg, "--user", testUser, "--out", dir)
			if c.code != 0 || !strings.Contains(c.stdout, "replay: cd "+dir+" && eic-authorized-keys verify") {
				t.Fatalf("capture: exit %d, stdout %q, stderr %q", c.code, c.stdout, c.stderr)
			}
			m := readManifest(t, dir)
			argv := append([]string{helper}, m.Replay[1:]...)
			replay := runIn(t, dir, append(argv, "--fingerprint", fp)...)
			if replay.stdout != live.stdout || replay.code != tc.replayCode || !strings.Contains(replay.stderr, tc.replayLog) {
				t.Errorf("replay: exit %d, stdout %q, verdicts %q\nwant exit %d, the live stdout %q, and %q",
					replay.code, replay.stdout, replay.stderr, tc.replayCode, live.stdout, tc.replayLog)
			}
			if tc.accepted != (live.stdout == line+"\n") {
				t.Errorf("live stdout %q, want key printed: %v", live.stdout, tc.accepted)
			}
			readme, err := os.ReadFile(filepath.Join(dir, capture.ReadmeFile))
			if err != nil || !strings.Contains(string(readme), strings.Join(m.Replay, " ")) {
				t.Errorf("README lacks the replay command %q: %v\n%s", m.Replay, err, readme)
			}
		})
	}
}

func readManifest(t *testing.T, dir string) capture.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, capture.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m capture.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Replay) < 2 {
		t.Fatalf("manifest has no replay command: %s", b)
	}
	return m
}

func TestCaptureFiles(t *testing.T) {
	in, cfg := captureInstance(t)
	_, _ = pushKey(t, in.Emu, time.Minute)
	dir := filepath.Join(in.Dir, "case")
	if c := runIn(t, in.Dir, binPath, "capture", "--config", cfg, "--user", testUser, "--out", dir); c.code != 0 {
		t.Fatalf("capture: exit %d, stderr %q", c.code, c.stderr)
	}
	t.Run("modes-0644-files-0755-dirs", func(t *testing.T) {
		err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			want := os.FileMode(0o644)
			if fi.IsDir() {
				want = os.ModeDir | 0o755
			}
			if fi.Mode() != want {
				t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("manifest-says-what-was-served", func(t *testing.T) {
		m := readManifest(t, dir)
		if m.InstanceID != in.Emu.InstanceID() || m.Region != emulator.DefaultRegion || m.AvailabilityZone != emulator.DefaultZone ||
			m.Domain != emulator.DefaultDomain || !m.KeysFound || len(m.Staples) == 0 || m.CA != capture.CAFile ||
			m.ExpectedSigner != "managed-ssh-signer.us-east-1.amazonaws.com" {
			t.Errorf("manifest %+v", m)
		}
		ca, err := os.ReadFile(filepath.Join(dir, capture.CAFile))
		if err != nil || !bytes.Equal(ca, in.Emu.RootPEM()) {
			t.Errorf("ca.pem is not the configured trust store (err %v)", err)
		}
	})
	t.Run("second-capture-into-it-refused", func(t *testing.T) {
		before, _ := os.ReadFile(filepath.Join(dir, capture.KeysFile))
		c := runIn(t, in.Dir, binPath, "capture", "--config", cfg, "--user", testUser, "--out", dir)
		if c.code != exitFailed || !strings.Contains(c.stderr, "is not empty") {
			t.Errorf("capture into a used directory: exit %d, stderr %q; want %d and 'is not empty'", c.code, c.stderr, exitFailed)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, capture.KeysFile)); !bytes.Equal(before, after) {
			t.Error("the earlier capture's keys file changed")
		}
	})
	t.Run("file-as-out-refused", func(t *testing.T) {
		f := in.Write(t, "plain", "x")
		if c := runIn(t, in.Dir, binPath, "capture", "--config", cfg, "--user", testUser, "--out", f); c.code != exitFailed || !strings.Contains(c.stderr, "not a directory") {
			t.Errorf("capture into a file: exit %d, stderr %q", c.code, c.stderr)
		}
	})
	t.Run("no-keys-captured-with-a-note", func(t *testing.T) {
		d := filepath.Join(in.Dir, "nokeys")
		c := runIn(t, in.Dir, binPath, "capture", "--config", cfg, "--user", "alice", "--out", d)
		if c.code != 0 || !strings.Contains(c.stdout, "IMDS has no keys for alice (404)") {
			t.Errorf("capture for a user without keys: exit %d, stdout %q, stderr %q", c.code, c.stdout, c.stderr)
		}
		if b, err := os.ReadFile(filepath.Join(d, capture.KeysFile)); err != nil || len(b) != 0 {
			t.Errorf("keys file %q, %v; want empty", b, err)
		}
	})
	t.Run("usage-without-out", func(t *testing.T) {
		if c := runIn(t, in.Dir, binPath, "capture", "--user", testUser); c.code != exitUsage {
			t.Errorf("capture without --out: exit %d, want %d", c.code, exitUsage)
		}
	})
}
