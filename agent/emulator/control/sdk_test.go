package control

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect/types"
	"github.com/aws/smithy-go"
	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// sdkClient is the real EC2 Instance Connect client pointed at the fixture's control
// listener. tamper, when set, changes each request after the SDK signed it, as a man in the
// middle would. Retries are off so each call is one request.
func sdkClient(f *fixture, region string, creds aws.CredentialsProvider, tamper func(*http.Request)) *ec2instanceconnect.Client {
	if creds == nil {
		creds = staticCreds(f.creds)
	}
	if region == "" {
		region = f.emu.Region()
	}
	return ec2instanceconnect.New(ec2instanceconnect.Options{
		Region:       region,
		BaseEndpoint: aws.String(f.ctl.URL),
		Credentials:  creds,
		HTTPClient:   &http.Client{Transport: tamperTransport(tamper)},
		Retryer:      aws.NopRetryer{},
	})
}

func staticCreds(c Credentials) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
			SessionToken: c.SessionToken, Source: "test"}, nil
	})
}

type tamperTransport func(*http.Request)

func (tt tamperTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tt != nil {
		r = r.Clone(r.Context())
		tt(r)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// setBody replaces a request's body, as an attacker rewriting it in flight would.
func setBody(r *http.Request, body string) {
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// errorKind names the SDK's typed exception err carries, or the API error code when the
// model has no type for it.
func errorKind(err error) string {
	var (
		auth      *types.AuthException
		invalid   *types.InvalidArgsException
		notFound  *types.EC2InstanceNotFoundException
		throttled *types.ThrottlingException
		service   *types.ServiceException
		api       smithy.APIError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &auth):
		return "AuthException"
	case errors.As(err, &invalid):
		return "InvalidArgsException"
	case errors.As(err, &notFound):
		return "EC2InstanceNotFoundException"
	case errors.As(err, &throttled):
		return "ThrottlingException"
	case errors.As(err, &service):
		return "ServiceException"
	case errors.As(err, &api):
		return "untyped " + api.ErrorCode()
	}
	return "transport error: " + err.Error()
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// testKeys are one key line of each kind the service takes or refuses.
type testKeys struct {
	ed25519, rsa2048, rsa1024, ecdsa, dsa, skEd25519 string
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	small, err := ssh.NewPublicKey(&rsa1024.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{
		ed25519: testkit.Line(testkit.Key(t, "ed25519")), rsa2048: testkit.Line(testkit.Key(t, "rsa")),
		rsa1024: testkit.Line(small), ecdsa: testkit.Line(testkit.Key(t, "ecdsa-p256")),
		dsa: wireKeyLine(ssh.KeyAlgoDSA, struct {
			Name       string
			P, Q, G, Y *big.Int
		}{ssh.KeyAlgoDSA, randBits(t, 1024), randBits(t, 160), randBits(t, 1020), randBits(t, 1020)}),
		skEd25519: wireKeyLine(ssh.KeyAlgoSKED25519, struct {
			Name        string
			Key         []byte
			Application string
		}{ssh.KeyAlgoSKED25519, bytes.Repeat([]byte{7}, 32), "ssh:"}),
	}
}

// wireKeyLine builds a key line from its wire form: enough for the service's type check,
// which never needs a working key (x/crypto/ssh no longer even parses ssh-dss).
func wireKeyLine(algo string, wire any) string {
	return algo + " " + base64.StdEncoding.EncodeToString(ssh.Marshal(wire))
}

func randBits(t *testing.T, bits int) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
	if err != nil {
		t.Fatal(err)
	}
	return n.SetBit(n, bits-1, 1)
}

func TestSendSSHPublicKeyThroughSDK(t *testing.T) {
	f := newFixture(t)
	keys := newTestKeys(t)
	other, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	id, zone := f.emu.InstanceID(), f.emu.Zone()
	tests := []struct {
		name       string
		instanceID string // default the emulator's
		user       string // default the case's name
		key        string // default an Ed25519 key
		zone       string
		region     string
		creds      aws.CredentialsProvider
		tamper     func(*http.Request)
		skew       time.Duration // the emulator's clock minus the signer's
		throttle   bool
		want       string // the typed exception, "" for success
		status     int
		msg        string // in the error's message
	}{
		{name: "ed25519-pushed", status: 200},
		{name: "rsa-2048-pushed", key: keys.rsa2048, status: 200},
		{name: "key-file-contents-pushed", key: keys.ed25519 + " alice@laptop\n", status: 200},
		{name: "zone-of-the-instance-pushed", zone: zone, status: 200},
		{name: "signed-just-inside-the-window", skew: MaxClockSkew - time.Minute, status: 200},

		{name: "rsa-1024-refused", key: keys.rsa1024, want: "InvalidArgsException", status: 400, msg: "at least 2048 bits"},
		{name: "ecdsa-refused", key: keys.ecdsa, want: "InvalidArgsException", status: 400, msg: `"ecdsa-sha2-nistp256" is not supported`},
		{name: "dsa-refused", key: keys.dsa, want: "InvalidArgsException", status: 400, msg: `"ssh-dss" is not supported`},
		{name: "security-key-refused", key: keys.skEd25519, want: "InvalidArgsException", status: 400, msg: `"sk-ssh-ed25519@openssh.com" is not supported`},
		{name: "key-of-79-characters-refused", key: keys.ed25519[:79], want: "InvalidArgsException", status: 400, msg: "79 characters"},
		{name: "key-over-4096-characters-refused", key: keys.ed25519 + " " + strings.Repeat("c", 4096), want: "InvalidArgsException", status: 400, msg: "want 80..4096"},
		{name: "not-a-key-refused", key: strings.Repeat("ssh-ed25519 AAAA", 6), want: "InvalidArgsException", status: 400, msg: "not an OpenSSH public key"},
		{name: "instance-id-pattern-refused", instanceID: "i-0123456789ABCDEF0", want: "InvalidArgsException", status: 400, msg: "InstanceId"},
		{name: "instance-id-too-short-refused", instanceID: "i-0123456", want: "InvalidArgsException", status: 400, msg: "10..32"},
		{name: "instance-id-too-long-refused", instanceID: "i-" + strings.Repeat("0", 31), want: "InvalidArgsException", status: 400, msg: "10..32"},
		{name: "os-user-pattern-refused", user: "bad user", want: "InvalidArgsException", status: 400, msg: "InstanceOSUser"},
		{name: "os-user-too-long-refused", user: strings.Repeat("u", 33), want: "InvalidArgsException", status: 400, msg: "1..32"},
		{name: "zone-pattern-refused", zone: "nowhere!", want: "InvalidArgsException", status: 400, msg: "AvailabilityZone"},
		{name: "unknown-instance-not-found", instanceID: "i-0000000000000000f", want: "EC2InstanceNotFoundException", status: 404, msg: "i-0000000000000000f"},
		{name: "other-zone-not-found", zone: "us-east-1f", want: "EC2InstanceNotFoundException", status: 404, msg: "us-east-1f"},
		{name: "throttled", throttle: true, want: "ThrottlingException", status: 429},

		// What an attacker would try: every one is AuthException, and nothing is pushed.
		{name: "unsigned-refused", creds: aws.AnonymousCredentials{}, want: "AuthException", status: 403, msg: "not signed"},
		{name: "unknown-key-id-refused", creds: staticCreds(other), want: "AuthException", status: 403, msg: "unknown"},
		{name: "wrong-secret-refused", creds: staticCreds(Credentials{AccessKeyID: f.creds.AccessKeyID, SecretAccessKey: other.SecretAccessKey}),
			want: "AuthException", status: 403, msg: "signature does not match"},
		{name: "other-region-scope-refused", region: "eu-west-1", want: "AuthException", status: 403, msg: "region \"eu-west-1\""},
		{name: "stale-signature-refused", skew: MaxClockSkew + time.Second, want: "AuthException", status: 403, msg: "expired"},
		// X-Amz-Date has whole seconds and the request takes its time: leave a margin.
		{name: "future-signature-refused", skew: -MaxClockSkew - 30*time.Second, want: "AuthException", status: 403, msg: "expired"},
		{name: "body-changed-after-signing-refused", want: "AuthException", status: 403, msg: "signature does not match",
			tamper: func(r *http.Request) {
				setBody(r, `{"InstanceId":"`+id+`","InstanceOSUser":"root","SSHPublicKey":"`+keys.ed25519+`"}`)
			}},
		{name: "target-swapped-after-signing-refused", want: "AuthException", status: 403, msg: "signature does not match",
			tamper: func(r *http.Request) {
				r.Header.Set("X-Amz-Target", "AWSEC2InstanceConnectService.SendSerialConsoleSSHPublicKey")
			}},
		{name: "date-refreshed-after-signing-refused", want: "AuthException", status: 403, msg: "signature does not match",
			tamper: func(r *http.Request) {
				signed, _ := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
				r.Header.Set("X-Amz-Date", signed.Add(time.Second).Format(amzDateFormat))
			}},
		{name: "target-left-unsigned-refused", want: "AuthException", status: 403, msg: "x-amz-target must be signed",
			tamper: func(r *http.Request) {
				a := r.Header.Get("Authorization")
				r.Header.Set("Authorization", strings.Replace(a, ";x-amz-target", "", 1))
			}},
		{name: "malformed-authorization-refused", want: "AuthException", status: 403, msg: "malformed",
			tamper: func(r *http.Request) { r.Header.Set("Authorization", sigV4Algorithm+" Credential") }},
		{name: "huge-body-refused", key: keys.ed25519 + " " + strings.Repeat("c", MaxBody), want: "untyped SerializationException", status: 413, msg: "over 64 KiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.instanceID == "" {
				tc.instanceID = id
			}
			if tc.user == "" {
				tc.user = tc.name[:min(len(tc.name), 32)]
			}
			if tc.key == "" {
				tc.key = keys.ed25519
			}
			in := &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: &tc.instanceID,
				InstanceOSUser: &tc.user, SSHPublicKey: &tc.key}
			if tc.zone != "" {
				in.AvailabilityZone = &tc.zone
			}
			f.emu.SetFaults(emulator.Faults{ThrottlePush: tc.throttle})
			t.Cleanup(func() { f.emu.SetFaults(emulator.Faults{}) })
			f.clock.Advance(tc.skew)
			t.Cleanup(func() { f.clock.Advance(-tc.skew) })

			out, err := sdkClient(f, tc.region, tc.creds, tc.tamper).SendSSHPublicKey(testContext(t), in)
			if got := errorKind(err); got != tc.want {
				t.Fatalf("SendSSHPublicKey error = %v (%s), want %q", err, got, tc.want)
			}
			if err != nil {
				if got := httpStatus(err); got != tc.status || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("error %v with HTTP status %d, want %d and %q in the message", err, got, tc.status, tc.msg)
				}
				if status, body := imdsGet(t, f.imds.URL, testkit.KeysPath(tc.user)); status != http.StatusNotFound {
					t.Fatalf("a refused push is served for %s: %d\n%s", tc.user, status, body)
				}
				return
			}
			checkPushed(t, f, out, tc.user, tc.key)
		})
	}
}

// checkPushed checks a successful answer: its RequestId is the served block's #Request,
// and the x-amzn-RequestId header the SDK reads says the same.
func checkPushed(t *testing.T, f *fixture, out *ec2instanceconnect.SendSSHPublicKeyOutput, user, key string) {
	t.Helper()
	if out.RequestId == nil || !uuidPattern.MatchString(*out.RequestId) || !out.Success {
		t.Fatalf("answer %+v, want a UUID RequestId and Success", out)
	}
	if hdr, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); hdr != *out.RequestId {
		t.Fatalf("x-amzn-RequestId %q, body RequestId %q: want the same", hdr, *out.RequestId)
	}
	_, body := imdsGet(t, f.imds.URL, testkit.KeysPath(user))
	for _, want := range []string{"#Instance=" + f.emu.InstanceID() + "\n", "#Request=" + *out.RequestId + "\n",
		"\n" + strings.TrimSpace(key) + "\n"} {
		if !strings.Contains(body, want) {
			t.Fatalf("the served bundle lacks %q:\n%s", want, body)
		}
	}
}
