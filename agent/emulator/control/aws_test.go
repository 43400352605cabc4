package control

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"

	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

// signedPost sends body to POST / signed with creds by the SDK's signer, the way a client
// that is not the SDK (or a broken one) would, and returns the status and the AWS error.
func signedPost(t *testing.T, f *fixture, creds Credentials, contentType, target, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, f.ctl.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256([]byte(body))
	c := aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, hex.EncodeToString(sum[:]),
		SigningService, f.emu.Region(), time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Type    string `json:"__type"`
		Message string
	}
	_ = json.Unmarshal(b, &e)
	if e.Type != "" && resp.Header.Get("X-Amzn-ErrorType") != e.Type {
		t.Fatalf("X-Amzn-ErrorType %q, __type %q: want the same", resp.Header.Get("X-Amzn-ErrorType"), e.Type)
	}
	return resp.StatusCode, e.Type, e.Message
}

// TestSendSSHPublicKeyProtocol covers what no SDK sends: errors of the protocol itself.
func TestSendSSHPublicKeyProtocol(t *testing.T) {
	f := newFixture(t)
	_, key := newKey(t)
	const ct = awsContentType
	body := func(fields map[string]any) string {
		b, _ := json.Marshal(fields)
		return string(b)
	}
	good := map[string]any{"InstanceId": f.emu.InstanceID(), "InstanceOSUser": "ec2-user", "SSHPublicKey": key}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name, contentType, target, body string
		status                          int
		kind, msg                       string
	}{
		{"unknown-field-is-serialization", ct, awsTarget, body(with("Bogus", 1)), 400, errSerialization, "unknown field"},
		{"wrong-type-is-serialization", ct, awsTarget, body(with("InstanceOSUser", 7)), 400, errSerialization, "InstanceOSUser"},
		{"trailing-data-is-serialization", ct, awsTarget, body(good) + "{}", 400, errSerialization, "after the JSON"},
		{"empty-body-is-serialization", ct, awsTarget, "", 400, errSerialization, "empty"},
		{"missing-key-is-invalid-args", ct, awsTarget, body(with("SSHPublicKey", nil)), 400, errInvalidArgs, "SSHPublicKey is required"},
		{"missing-instance-is-invalid-args", ct, awsTarget, body(with("InstanceId", nil)), 400, errInvalidArgs, "InstanceId is required"},
		{"other-content-type-refused", "application/json", awsTarget, body(good), 415, errSerialization, awsContentType},
		{"other-operation-refused", ct, "AWSEC2InstanceConnectService.SendSerialConsoleSSHPublicKey", body(good), 400, errUnknownOp, "is not"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, kind, msg := signedPost(t, f, f.creds, tc.contentType, tc.target, tc.body)
			if status != tc.status || kind != tc.kind || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got %d %s %q, want %d %s with %q", status, kind, msg, tc.status, tc.kind, tc.msg)
			}
			if s, _ := imdsGet(t, f.imds.URL, testkit.KeysPath("ec2-user")); s != http.StatusNotFound {
				t.Fatalf("a refused push is served: %d", s)
			}
		})
	}
	t.Run("signed-raw-request-pushes", func(t *testing.T) {
		status, kind, msg := signedPost(t, f, f.creds, ct, awsTarget, body(with("InstanceOSUser", "raw-user")))
		if status != 200 || kind != "" {
			t.Fatalf("got %d %s %q, want 200", status, kind, msg)
		}
	})
}

func TestSendSSHPublicKeyWithoutCredentialsRefusesAll(t *testing.T) {
	f := newFixtureWith(t, Credentials{})
	someone, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	_, key := newKey(t)
	b, _ := json.Marshal(map[string]string{"InstanceId": f.emu.InstanceID(), "InstanceOSUser": "ec2-user", "SSHPublicKey": key})
	status, kind, msg := signedPost(t, f, someone, awsContentType, awsTarget, string(b))
	if status != http.StatusForbidden || kind != errAuth || !strings.Contains(msg, "no AWS credentials") {
		t.Fatalf("got %d %s %q, want 403 AuthException saying there are no credentials", status, kind, msg)
	}
}

// replayTransport records the first request it sends and, once replay is set, sends that
// request again instead of any other: a captured request played back later.
type replayTransport struct {
	mu     sync.Mutex
	header http.Header
	body   []byte
	replay bool
}

func (rt *replayTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	r = r.Clone(r.Context())
	switch {
	case rt.replay:
		r.Header = rt.header.Clone()
		setBody(r, string(rt.body))
	case rt.header == nil:
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		rt.header, rt.body = r.Header.Clone(), b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestSendSSHPublicKeyReplayAfterWindowRefused(t *testing.T) {
	f := newFixture(t)
	_, key := newKey(t)
	rt := &replayTransport{}
	cl := ec2instanceconnect.New(ec2instanceconnect.Options{Region: f.emu.Region(), BaseEndpoint: aws.String(f.ctl.URL),
		Credentials: staticCreds(f.creds), HTTPClient: &http.Client{Transport: rt}, Retryer: aws.NopRetryer{}})
	in := &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(f.emu.InstanceID()),
		InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(key)}
	out, err := cl.SendSSHPublicKey(testContext(t), in)
	if err != nil {
		t.Fatalf("first push: %v", err)
	}
	checkPushed(t, f, out, "ec2-user", key)

	rt.mu.Lock()
	rt.replay = true
	rt.mu.Unlock()
	f.clock.Advance(MaxClockSkew + time.Second)
	in.InstanceOSUser = aws.String("root") // whatever the replayer asks, the captured request goes
	_, err = cl.SendSSHPublicKey(testContext(t), in)
	if got := errorKind(err); got != errAuth || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("replay after %v: %v (%s), want AuthException saying the signature expired", MaxClockSkew, err, got)
	}
	if _, body := imdsGet(t, f.imds.URL, testkit.KeysPath("ec2-user")); strings.Count(body, "#Request=") != 1 {
		t.Fatalf("the replay pushed again:\n%s", body)
	}
}

func TestSendSSHPublicKeySessionToken(t *testing.T) {
	creds, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	creds.SessionToken = "FwoGZXIvYXdzEXAMPLETOKEN"
	f := newFixtureWith(t, creds)
	_, key := newKey(t)
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"right-token-pushed", creds.SessionToken, ""},
		{"no-token-refused", "", errAuth},
		{"other-token-refused", creds.SessionToken + "x", errAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := creds
			c.SessionToken = tc.token
			user := tc.name
			out, err := sdkClient(f, "", staticCreds(c), nil).SendSSHPublicKey(testContext(t),
				&ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(f.emu.InstanceID()),
					InstanceOSUser: &user, SSHPublicKey: &key})
			if got := errorKind(err); got != tc.want {
				t.Fatalf("error %v (%s), want %q", err, got, tc.want)
			}
			if err == nil {
				checkPushed(t, f, out, user, key)
			}
		})
	}
}
