package control

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ocsp"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestClientRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := testContext(t)
	_, key := newKey(t)

	t.Run("push-serves-a-signed-block", func(t *testing.T) {
		res, err := f.cl.Push(ctx, PushRequest{OSUser: "alice", PublicKey: key + " alice@laptop\n",
			TTLSeconds: 120, Caller: "arn:aws:iam::111122223333:user/alice"})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Success || !uuidPattern.MatchString(res.RequestID) {
			t.Fatalf("answer %+v, want success and a UUID request id", res)
		}
		status, body := imdsGet(t, f.imds.URL, testkit.KeysPath("alice")+"/")
		for _, want := range []string{"#Request=" + res.RequestID, "#Caller=arn:aws:iam::111122223333:user/alice",
			"\n" + key + " alice@laptop\n"} {
			if status != http.StatusOK || !strings.Contains(body, want) {
				t.Fatalf("IMDS answered %d without %q:\n%s", status, want, body)
			}
		}
	})
	t.Run("push-invalid-user-is-a-400", func(t *testing.T) {
		_, err := f.cl.Push(ctx, PushRequest{OSUser: "9lives", PublicKey: key})
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Message, "InstanceOSUser") {
			t.Fatalf("error = %v, want a 400 naming InstanceOSUser", err)
		}
	})
	t.Run("faults-round-trip", func(t *testing.T) {
		want := Faults{Latency: Duration(time.Millisecond), Status: 503, Hang: true, Reset: true,
			SlowDrip: Duration(2 * time.Millisecond), Oversize: true, Throttle: true, RevokeTokens: true,
			NoTokens: true, Region: "eu-west-1", Zone: "eu-west-1b", Domain: "attacker.example",
			ChainIncludesRoot: true, Chain: "not a chain", SignerStaple: emulator.StapleUnrelated,
			IntermediateStaple: emulator.StapleStale, StapleNamesSHA256: true}
		got, err := f.cl.SetFaults(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("SetFaults answer (-want +got):\n%s", diff)
		}
		wantEmu := emulator.Faults{Latency: time.Millisecond, Status: 503, Hang: true, Reset: true,
			SlowDrip: 2 * time.Millisecond, Oversize: true, Throttle: true, RevokeTokens: true,
			NoTokens: true, Region: "eu-west-1", Zone: "eu-west-1b", Domain: "attacker.example",
			ChainIncludesRoot: true, Chain: []byte("not a chain"), SignerStaple: emulator.StapleUnrelated,
			IntermediateStaple: emulator.StapleStale, StapleNames256: true}
		if diff := cmp.Diff(wantEmu, f.emu.Faults()); diff != "" {
			t.Fatalf("emulator faults (-want +got):\n%s", diff)
		}
		if got, err := f.cl.Faults(ctx); err != nil || cmp.Diff(want, got) != "" {
			t.Fatalf("Faults = %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("faults-cleared", func(t *testing.T) {
		if err := f.cl.ClearFaults(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(emulator.Faults{}, f.emu.Faults()); diff != "" {
			t.Fatalf("emulator faults after clearing (-want +got):\n%s", diff)
		}
	})
	t.Run("staple-certs-switch-changes-what-imds-serves", func(t *testing.T) {
		p := f.emu.PKI()
		// x/crypto/ocsp exposes the first certificate of the certs field, and checks the
		// response's signature with it: the intermediate did sign the signer's staple.
		firstCert := func(t *testing.T) *x509.Certificate {
			t.Helper()
			_, body := imdsGet(t, f.imds.URL, emulator.MetaPrefix+"managed-ssh-keys/signer-ocsp/"+pki.StapleName(p.Signer.Cert))
			der, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ocsp.ParseResponse(der, nil)
			if err != nil {
				t.Fatal(err)
			}
			return r.Certificate
		}
		if got, err := f.cl.StapleCerts(ctx); err != nil || got != pki.CertsDefault || firstCert(t) != nil {
			t.Fatalf("StapleCerts = %v, %v; want default, with nothing in certs", got, err)
		}
		got, err := f.cl.SetStapleCerts(ctx, pki.CertsIssuerChain)
		if err != nil || got != pki.CertsIssuerChain || f.emu.StapleCerts() != pki.CertsIssuerChain {
			t.Fatalf("SetStapleCerts = %v, %v, emulator has %v; want issuer-chain", got, err, f.emu.StapleCerts())
		}
		if c := firstCert(t); c == nil || !c.Equal(p.Intermediate.Cert) {
			t.Fatal("after the switch, the served signer staple does not carry the intermediate first")
		}
		if err := f.cl.ClearFaults(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := f.cl.StapleCerts(ctx); err != nil || got != pki.CertsIssuerChain {
			t.Fatalf("StapleCerts after clearing faults = %v, %v; want issuer-chain still", got, err)
		}
		if _, err := f.cl.SetStapleCerts(ctx, pki.CertsJunk+1); err == nil || f.emu.StapleCerts() != pki.CertsIssuerChain {
			t.Fatalf("SetStapleCerts(unknown) = %v, emulator has %v; want an error and no change", err, f.emu.StapleCerts())
		}
		if _, err := f.cl.SetStapleCerts(ctx, pki.CertsDefault); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("counts-read-and-reset", func(t *testing.T) {
		f.emu.ResetCounts()
		imdsGet(t, f.imds.URL, emulator.MetaPrefix+"instance-id/")
		want := Counts{Paths: map[string]int{emulator.TokenPath: 1, emulator.MetaPrefix + "instance-id": 1}, Total: 2}
		got, err := f.cl.Counts(ctx)
		if err != nil || cmp.Diff(want, got) != "" {
			t.Fatalf("Counts = %+v, %v; want %+v", got, err, want)
		}
		got, err = f.cl.ResetCounts(ctx)
		if err != nil || cmp.Diff(want, got) != "" {
			t.Fatalf("ResetCounts = %+v, %v; want the counts before the reset %+v", got, err, want)
		}
		if got, err := f.cl.Counts(ctx); err != nil || got.Total != 0 || len(got.Paths) != 0 {
			t.Fatalf("Counts after reset = %+v, %v; want none", got, err)
		}
	})
	t.Run("root-ca-is-the-emulators", func(t *testing.T) {
		got, err := f.cl.RootCA(ctx)
		if err != nil || string(got) != string(f.emu.RootPEM()) {
			t.Fatalf("RootCA = %q, %v; want the emulator's root", got, err)
		}
	})
	t.Run("rotate-signer-reports-the-new-certificate", func(t *testing.T) {
		old := f.emu.PKI().Signer.Cert
		info, err := f.cl.RotateSigner(ctx)
		if err != nil {
			t.Fatal(err)
		}
		now := f.emu.PKI().Signer.Cert
		want := SignerInfo{Subject: now.Subject.CommonName, Serial: hexSerial(now.SerialNumber),
			SHA1: pki.StapleName(now), NotAfter: now.NotAfter.UTC()}
		if diff := cmp.Diff(want, info); diff != "" || now.Equal(old) {
			t.Fatalf("signer did not change, or answer (-want +got):\n%s", diff)
		}
	})
	t.Run("revoke-signer-revokes-the-current-certificate", func(t *testing.T) {
		info, err := f.cl.RevokeSigner(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := f.emu.PKI()
		if info.SHA1 != pki.StapleName(p.Signer.Cert) {
			t.Fatalf("revoked %s, want the current signer %s", info.SHA1, pki.StapleName(p.Signer.Cert))
		}
		der, err := f.emu.StapleDER(p.Signer.Cert, emulator.StapleGood)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := ocsp.ParseResponseForCert(der, p.Signer.Cert, p.Intermediate.Cert); err != nil || r.Status != ocsp.Revoked {
			t.Fatalf("staple after revoke-signer: %v, status %v; want revoked", err, r)
		}
	})
}

// raw sends one request to the control API as given, without the client's help.
func raw(t *testing.T, url, method, path, contentType, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
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
	return resp.StatusCode, string(b)
}

func TestServerRefusesBadRequests(t *testing.T) {
	f := newFixture(t)
	_, key := newKey(t)
	const js = "application/json"
	tests := []struct {
		name, method, path, contentType, body string
		headers                               []string
		status                                int
		msg                                   string // in the "error" field
	}{
		{"request-from-a-web-page-forbidden", "POST", PathRotateSigner, "", "", []string{"Origin", "http://evil.example"}, 403, "Origin"},
		{"unknown-field-refused", "PUT", PathFaults, js, `{"latncy":"1s"}`, nil, 400, `unknown field "latncy"`},
		{"bare-number-duration-refused", "PUT", PathFaults, js, `{"latency":5}`, nil, 400, "latency"},
		{"duration-without-unit-refused", "PUT", PathFaults, js, `{"slow_drip":"5"}`, nil, 400, "with a unit"},
		{"negative-latency-refused", "PUT", PathFaults, js, `{"latency":"-1s"}`, nil, 400, "negative latency"},
		{"status-outside-http-refused", "PUT", PathFaults, js, `{"status":99}`, nil, 400, "status 99"},
		{"unknown-staple-name-refused", "PUT", PathFaults, js, `{"signer_staple":"bogus"}`, nil, 400, `unknown staple fault "bogus"`},
		{"unknown-certs-form-refused", "PUT", PathStapleCerts, js, `{"certs":"bogus"}`, nil, 400, `unknown staple certs form "bogus"`},
		{"certs-form-by-number-refused", "PUT", PathStapleCerts, js, `{"certs":2}`, nil, 400, "certs"},
		{"certs-form-unknown-field-refused", "PUT", PathStapleCerts, js, `{"form":"issuer"}`, nil, 400, `unknown field "form"`},
		{"trailing-data-refused", "PUT", PathFaults, js, `{}{}`, nil, 400, "after the JSON object"},
		{"empty-body-refused", "POST", PathPush, js, ``, nil, 400, "empty"},
		{"wrong-type-refused", "POST", PathPush, js, `{"os_user":5}`, nil, 400, "os_user"},
		{"form-body-refused", "POST", PathPush, "application/x-www-form-urlencoded", `os_user=a`, nil, 415, "application/json"},
		{"body-over-64KiB-refused", "POST", PathPush, js, `{"os_user":"` + strings.Repeat("a", MaxBody) + `"}`, nil, 413, "over 64 KiB"},
		{"ttl-out-of-range-refused", "POST", PathPush, js, `{"os_user":"a","public_key":"` + key + `","ttl_seconds":99999999999}`, nil, 400, "ttl_seconds"},
		{"invalid-key-refused", "POST", PathPush, js, `{"os_user":"a","public_key":"ssh-ed25519 AAAA"}`, nil, 400, "SSHPublicKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.emu.PKI()
			status, body := raw(t, f.ctl.URL, tc.method, tc.path, tc.contentType, tc.body, tc.headers...)
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || status != tc.status || !strings.Contains(e.Error, tc.msg) {
				t.Fatalf("got %d %s; want %d with an error containing %q", status, body, tc.status, tc.msg)
			}
			if f.emu.PKI() != before || len(f.emu.Faults().Chain) != 0 || f.emu.Faults().Latency != 0 ||
				f.emu.StapleCerts() != pki.CertsDefault {
				t.Fatal("a refused request changed the emulator")
			}
		})
	}
	t.Run("wrong-method-not-allowed", func(t *testing.T) {
		if status, _ := raw(t, f.ctl.URL, "GET", PathPush, "", ""); status != http.StatusMethodNotAllowed {
			t.Fatalf("status = %d, want 405", status)
		}
	})
	t.Run("unknown-endpoint-not-found", func(t *testing.T) {
		if status, _ := raw(t, f.ctl.URL, "GET", "/latest/meta-data/instance-id", "", ""); status != http.StatusNotFound {
			t.Fatalf("status = %d, want 404", status)
		}
	})
	t.Run("imds-listener-has-no-control-api", func(t *testing.T) {
		if status, _ := raw(t, f.imds.URL, "GET", PathRootCA, "", ""); status == http.StatusOK {
			t.Fatal("the IMDS listener serves the control API")
		}
	})
}

func TestCountsJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Counts
		ok   bool
	}{
		{"flat-object-with-total", `{"/latest/api/token":2,"total":2}`, Counts{Paths: map[string]int{"/latest/api/token": 2}, Total: 2}, true},
		{"empty-with-total", `{"total":0}`, Counts{Paths: map[string]int{}}, true},
		{"missing-total-refused", `{"/x":1}`, Counts{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Counts
			err := json.Unmarshal([]byte(tc.in), &got)
			if (err == nil) != tc.ok {
				t.Fatalf("error = %v, want ok=%v", err, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); tc.ok && diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			if !tc.ok {
				return
			}
			back, err := json.Marshal(got)
			if err != nil || string(back) != tc.in {
				t.Fatalf("marshal back = %s, %v; want %s", back, err, tc.in)
			}
		})
	}
}
