//go:build e2e

package testenv_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator/control"
	"github.com/eic-agent/eic-agent/agent/testenv"
)

// The push a user makes on AWS, made with the real AWS CLI against the emulator's
// SendSSHPublicKey endpoint: the key logs in, the audit record carries the RequestId the CLI
// printed, and the CLI never talks to IMDS (it must not look for credentials there).
func TestLoginWithKeyPushedByAWSCLI(t *testing.T) {
	cli := testenv.FindAWSCLI()
	if cli == "" {
		if os.Getenv("EIC_E2E_REQUIRE_AWS") == "1" {
			t.Fatal("no AWS CLI (aws) installed: make e2e-deps installs Debian's awscli")
		}
		t.Skip("no AWS CLI (aws) installed: make e2e-deps installs Debian's awscli")
	}
	sshd := start(t, "")
	path, _ := key(t, "ed25519")
	p := testenv.CLIPush{CLI: cli, Endpoint: "http://" + testenv.ControlAddr, Region: env.Emu.Region(),
		InstanceID: env.Emu.InstanceID(), OSUser: "ec2-user", PubKey: filepath.Base(path) + ".pub",
		Dir: filepath.Dir(path), Credentials: env.AWSCredentials}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	imds := env.Emu.Total()
	mark := env.Journal.Mark()
	out, err := p.Command(ctx).Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(p.Args(), " "), err, stderrOf(err))
	}
	answer, err := testenv.ParsePushAnswer(out)
	if err != nil {
		t.Fatal(err)
	}
	// Guards CLIPush.Env(): without its AWS_EC2_METADATA_DISABLED, credentials file and
	// --region the CLI would ask IMDS (the emulator here, a real instance's elsewhere).
	if n := env.Emu.Total() - imds; n != 0 {
		t.Errorf("the AWS CLI made %d IMDS requests; want 0 (it must talk to --endpoint-url only)", n)
	}
	mustLogIn(t, "ec2-user", path)
	noCommandFailure(t, sshd)
	e, ok := env.Journal.WaitFor(mark, 5*time.Second, func(e testenv.Entry) bool { return e["EVENT"] == "accept" })
	if !ok {
		t.Fatalf("no audit record for the accepted login; journal: %v", env.Journal.Since(mark))
	}
	if e["REQUEST_ID"] != answer.RequestID {
		t.Errorf("audit REQUEST_ID = %q, want the RequestId the CLI printed, %q", e["REQUEST_ID"], answer.RequestID)
	}
	if !strings.Contains(e["MESSAGE"], "request-id: "+answer.RequestID+",") {
		t.Errorf("audit MESSAGE %q does not name request-id %s", e["MESSAGE"], answer.RequestID)
	}
}

// The attacker's try: the same CLI push signed with another key pair must be refused with
// AuthException, and the key must not log in.
func TestAWSCLIPushWithOtherCredentialsIsRefused(t *testing.T) {
	cli := testenv.FindAWSCLI()
	if cli == "" {
		t.Skip("no AWS CLI (aws) installed: make e2e-deps installs Debian's awscli")
	}
	start(t, "")
	path, _ := key(t, "ed25519")
	other, err := control.NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(filepath.Dir(path), "other-credentials")
	if err := other.WriteFile(otherFile); err != nil {
		t.Fatal(err)
	}
	p := testenv.CLIPush{CLI: cli, Endpoint: "http://" + testenv.ControlAddr, Region: env.Emu.Region(),
		InstanceID: env.Emu.InstanceID(), OSUser: "ec2-user", PubKey: filepath.Base(path) + ".pub",
		Dir: filepath.Dir(path), Credentials: otherFile}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := p.Command(ctx).Output()
	if err == nil {
		t.Fatalf("a push signed with other credentials succeeded: %s", out)
	}
	if msg := stderrOf(err); !strings.Contains(msg, "(AuthException)") {
		t.Errorf("the CLI failed without AuthException: %v\n%s", err, msg)
	}
	mustBeRefused(t, "ec2-user", path)
}

// stderrOf returns what a command that failed wrote to stderr, when exec kept it.
func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
