//go:build e2e

package testenv_test

// Real logins: OpenSSH's sshd and ssh, our helper as AuthorizedKeysCommand running as an
// unprivileged user, and the emulator at 169.254.169.254, all inside private namespaces.
// Run with `make e2e` (as root).

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/control"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/testenv"
)

var (
	env        *testenv.Env
	skipReason string
)

const helperConfig = `# written by the e2e harness
deadline = "2s"
[log]
level = "debug"
`

func TestMain(m *testing.M) {
	if !testenv.Inside() {
		if skipReason = testenv.CanEnter(); skipReason != "" {
			os.Exit(m.Run())
		}
		dir, err := os.MkdirTemp("", "eic-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		binEnv, err := testenv.Build(dir, "eic-authorized-keys", "eic-agent")
		if err != nil {
			os.RemoveAll(dir)
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		code, err := testenv.Enter(binEnv)
		os.RemoveAll(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		}
		os.Exit(code)
	}
	var err error
	env, err = testenv.Start(testenv.Options{Config: helperConfig, Control: control.NewHandlerWithFreshCredentials})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv close:", err)
	}
	os.Exit(code)
}

// start gives a test a fresh sshd and a clean emulator.
func start(t *testing.T, command string) *testenv.SSHD {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	env.Emu.SetFaults(emulator.Faults{})
	if err := env.Emu.SetStapleCerts(pki.CertsDefault); err != nil {
		t.Fatal(err)
	}
	env.Emu.ResetCounts()
	if command == "" {
		command = testenv.HelperPath + " %u %f"
	}
	sshd, err := testenv.StartSSHD(testenv.SSHDConfig{Command: command, CommandUser: testenv.CommandUser})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sshd.Stop()
		if t.Failed() {
			t.Logf("sshd log:\n%s", sshd.Log())
		}
	})
	return sshd
}

func key(t *testing.T, kind string) (path, pub string) {
	t.Helper()
	name := fmt.Sprintf("%s-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), kind, time.Now().UnixNano())
	path, pub, err := testenv.KeyGen(name, kind)
	if err != nil {
		t.Fatal(err)
	}
	return path, pub
}

func push(t *testing.T, p emulator.Push) string {
	t.Helper()
	id, err := env.Emu.Push(p)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func login(t *testing.T, user, keyPath string) testenv.Login {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return testenv.SSH(ctx, user, keyPath, "whoami")
}

var commandFailed = regexp.MustCompile(`AuthorizedKeysCommand .* failed`)

func noCommandFailure(t *testing.T, sshd *testenv.SSHD) {
	t.Helper()
	if m := commandFailed.FindString(sshd.Log()); m != "" {
		t.Errorf("sshd logged %q for a normal login", m)
	}
}

func mustLogIn(t *testing.T, user, keyPath string) {
	t.Helper()
	l := login(t, user, keyPath)
	if !l.OK() || strings.TrimSpace(l.Stdout) != user {
		t.Fatalf("login as %s: err %v, stdout %q, stderr %q; want whoami = %s", user, l.Err, l.Stdout, l.Stderr, user)
	}
}

func mustBeRefused(t *testing.T, user, keyPath string) {
	t.Helper()
	l := login(t, user, keyPath)
	if l.OK() {
		t.Fatalf("login as %s succeeded (stdout %q); want it refused", user, l.Stdout)
	}
	if !strings.Contains(l.Stderr, "Permission denied") {
		t.Fatalf("login as %s failed without a permission denial: %v: %s", user, l.Err, l.Stderr)
	}
}

func TestLoginWithPushedKey(t *testing.T) {
	for _, kind := range []string{"rsa", "ecdsa", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			sshd := start(t, "")
			path, pub := key(t, kind)
			mark := env.Journal.Mark()
			req := push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub, Caller: "arn:aws:iam::123456789012:user/e2e-" + kind})
			mustLogIn(t, "ec2-user", path)
			noCommandFailure(t, sshd)
			fp, err := testenv.Fingerprint(path + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			e, ok := env.Journal.WaitFor(mark, 5*time.Second, func(e testenv.Entry) bool { return e["EVENT"] == "accept" })
			if !ok {
				t.Fatalf("no audit record for the accepted login; journal: %v", env.Journal.Since(mark))
			}
			want := map[string]string{
				"MESSAGE": fmt.Sprintf("Providing ssh key from EC2 Instance Connect with fingerprint: %s, request-id: %s, for IAM principal: %s",
					fp, req, "arn:aws:iam::123456789012:user/e2e-"+kind),
				"USER": "ec2-user", "FINGERPRINT": fp, "REQUEST_ID": req,
				"CALLER": "arn:aws:iam::123456789012:user/e2e-" + kind, "SYSLOG_IDENTIFIER": "ec2-instance-connect",
				"SYSLOG_FACILITY": "10",
			}
			for k, v := range want {
				if e[k] != v {
					t.Errorf("audit record %s = %q, want %q", k, e[k], v)
				}
			}
		})
	}
}

// mustRecord waits for the helper's audit record that explains a refusal: "Permission denied"
// alone is also what a helper that crashed would get.
func mustRecord(t *testing.T, mark int, what string, match func(testenv.Entry) bool) {
	t.Helper()
	if _, ok := env.Journal.WaitFor(mark, 5*time.Second, match); !ok {
		t.Errorf("no audit record with %s; journal: %v", what, env.Journal.Since(mark))
	}
}

// No test pushes a key for alice, so IMDS never has any for her.
func TestLoginRefusedWithoutKey(t *testing.T) {
	start(t, "")
	path, _ := key(t, "ed25519")
	mark := env.Journal.Mark()
	mustBeRefused(t, "alice", path)
	mustRecord(t, mark, "no keys for alice", func(e testenv.Entry) bool {
		return e["MESSAGE"] == "no EC2 Instance Connect keys for user" && e["USER"] == "alice"
	})
}

func TestLoginRefusedKeyPushedForAnotherUser(t *testing.T) {
	start(t, "")
	path, pub := key(t, "ed25519")
	push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub})
	mark := env.Journal.Mark()
	mustBeRefused(t, "alice", path)
	mustRecord(t, mark, "no keys for alice", func(e testenv.Entry) bool {
		return e["MESSAGE"] == "no EC2 Instance Connect keys for user" && e["USER"] == "alice"
	})
}

func TestLoginRefusedKeyPushedForAnotherInstance(t *testing.T) {
	start(t, "")
	path, pub := key(t, "ed25519")
	req := push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub, InstanceID: "i-0fedcba9876543210"})
	mark := env.Journal.Mark()
	mustBeRefused(t, "ec2-user", path)
	mustRecord(t, mark, "reason=other-instance for request "+req, func(e testenv.Entry) bool {
		return e["REASON"] == "other-instance" && e["REQUEST_ID"] == req
	})
}

func TestLoginRefusedAfterExpiry(t *testing.T) {
	start(t, "")
	path, pub := key(t, "ed25519")
	// A negative TTL pushes a key whose expiry has just passed; IMDS still serves it.
	push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub, TTL: -time.Second})
	mark := env.Journal.Mark()
	mustBeRefused(t, "ec2-user", path)
	mustRecord(t, mark, "reason=expired", func(e testenv.Entry) bool { return e["REASON"] == "expired" })
}

func TestLoginRefusedAfterSignerRevoked(t *testing.T) {
	start(t, "")
	path, pub := key(t, "ed25519")
	req := push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub})
	env.Emu.RevokeSigner()
	t.Cleanup(func() {
		if err := env.Emu.RotateSigner(); err != nil {
			t.Error(err)
		}
	})
	mark := env.Journal.Mark()
	mustBeRefused(t, "ec2-user", path)
	mustRecord(t, mark, "reason=untrusted-signer (revoked) for request "+req, func(e testenv.Entry) bool {
		return e["REASON"] == "untrusted-signer" && e["REQUEST_ID"] == req && strings.Contains(e["DETAIL"], "revoked")
	})
}

func TestLoginRefusedWhenIMDSHangsAndSSHDStillAnswers(t *testing.T) {
	start(t, "")
	path, pub := key(t, "ed25519")
	push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub})
	env.Emu.SetFaults(emulator.Faults{Hang: true})
	mustBeRefused(t, "ec2-user", path)
	// The helper's deadline released sshd: the same sshd serves the next login.
	env.Emu.SetFaults(emulator.Faults{})
	mustLogIn(t, "ec2-user", path)
}

func TestRegularAuthorizedKeysLoginIsSilent(t *testing.T) {
	sshd := start(t, "")
	path, pub := key(t, "ed25519")
	if err := os.WriteFile("/home/alice/.ssh/authorized_keys", []byte(pub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown("/home/alice/.ssh/authorized_keys", 64001, 64001); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove("/home/alice/.ssh/authorized_keys") })
	mustLogIn(t, "alice", path)
	noCommandFailure(t, sshd)
}

func TestUserFromSecondNSSSourceLogsIn(t *testing.T) {
	sshd := start(t, "")
	if !env.Sys.HasExtraUsers {
		t.Skip("libnss-extrausers is not installed (make e2e-deps)")
	}
	path, pub := key(t, "ed25519")
	push(t, emulator.Push{OSUser: "ldapuser", PublicKey: pub})
	mustLogIn(t, "ldapuser", path)
	noCommandFailure(t, sshd)
}

func TestUnknownUserNeverReachesIMDS(t *testing.T) {
	start(t, "")
	path, pub := key(t, "ed25519")
	push(t, emulator.Push{OSUser: "ghost", PublicKey: pub})
	env.Emu.ResetCounts()
	l := login(t, "ghost", path)
	if l.OK() {
		t.Fatal("login as a user that does not exist succeeded")
	}
	// Whoever runs the helper for a user NSS does not know, IMDS is not asked.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, code, err := testenv.RunHelper(ctx, "ghost")
	if err != nil || code != 0 || out != "" {
		t.Fatalf("helper for ghost: out %q, exit %d, err %v; want nothing, 0", out, code, err)
	}
	if n := env.Emu.Total(); n != 0 {
		t.Fatalf("IMDS got %d requests for a user that does not exist: %v", n, env.Emu.Counts())
	}
}

func TestUpstreamPathAndArguments(t *testing.T) {
	sshd := start(t, testenv.UpstreamPath+" %u %f")
	path, pub := key(t, "ed25519")
	push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub})
	mustLogIn(t, "ec2-user", path)
	noCommandFailure(t, sshd)
}

func TestLoginAfterSignerRotation(t *testing.T) {
	sshd := start(t, "")
	if err := env.Emu.RotateSigner(); err != nil {
		t.Fatal(err)
	}
	path, pub := key(t, "ed25519")
	push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub})
	mustLogIn(t, "ec2-user", path)
	noCommandFailure(t, sshd)
}

func TestLoginThroughWarmServiceCostsOneIMDSRequest(t *testing.T) {
	sshd := start(t, "")
	var serviceLog testenv.SyncBuffer
	stop, err := testenv.StartService(&serviceLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	// Warm-up: the first login also fetches the identity, placement and signer.
	path, pub := key(t, "ed25519")
	push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub})
	mustLogIn(t, "ec2-user", path)

	for i := range 3 {
		path, pub := key(t, "ecdsa")
		push(t, emulator.Push{OSUser: "ec2-user", PublicKey: pub})
		env.Emu.ResetCounts()
		mark := env.Journal.Mark()
		mustLogIn(t, "ec2-user", path)
		if n := env.Emu.Total(); n != 1 {
			t.Fatalf("login %d through the service cost %d IMDS requests %v; want 1", i+1, n, env.Emu.Counts())
		}
		e, ok := env.Journal.WaitFor(mark, 5*time.Second, func(e testenv.Entry) bool { return e["EVENT"] == "accept" })
		if !ok || e["PATH"] != "service" {
			t.Fatalf("audit record for login %d: %v (found %v); want one with PATH=service", i+1, e, ok)
		}
	}
	noCommandFailure(t, sshd)
	if t.Failed() {
		t.Logf("service log:\n%s", serviceLog.String())
	}
}
