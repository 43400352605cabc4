package main

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator/control"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// TestSDKPushIsAuditedWithItsRequestID pushes the way users do, through the AWS SDK's
// SendSSHPublicKey with SigV4 against the emulator's control listener, and checks that the
// helper serves the key and that its audit record carries the RequestId the SDK returned.
func TestSDKPushIsAuditedWithItsRequestID(t *testing.T) {
	f := newFixture(t, setup{})
	creds, err := control.NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	ctl := httptest.NewServer(control.NewHandler(f.emu, control.HandlerConfig{Credentials: creds}))
	t.Cleanup(ctl.Close)
	cl := ec2instanceconnect.New(ec2instanceconnect.Options{
		Region: f.emu.Region(), BaseEndpoint: aws.String(ctl.URL), Retryer: aws.NopRetryer{},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}, nil
		}),
	})
	key := newKey(t, "ed25519")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cl.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{
		InstanceId: aws.String(f.emu.InstanceID()), InstanceOSUser: aws.String("ec2-user"),
		SSHPublicKey: aws.String(testkit.Line(key) + " alice@laptop\n"), AvailabilityZone: aws.String(f.emu.Zone()),
	})
	if err != nil || res.RequestId == nil {
		t.Fatalf("SendSSHPublicKey: %v", err)
	}
	out := f.run(t, "ec2-user", ssh.FingerprintSHA256(key))
	if out.code != 0 || out.stdout != testkit.Line(key)+"\n" {
		t.Fatalf("exit %d, stdout %q; want 0 and the pushed key\nstderr:\n%s", out.code, out.stdout, out.stderr)
	}
	mustContain(t, "audit record", out.stderr, "request-id: "+*res.RequestId+",", "request_id="+*res.RequestId)
}
