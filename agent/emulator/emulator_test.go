package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
	"github.com/google/go-cmp/cmp"
)

func TestTokens(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		headers []string
		want    int
	}{
		{"put-with-ttl-issues-token", http.MethodPut, []string{TTLHeader, "300"}, http.StatusOK},
		{"put-with-max-ttl-issues-token", http.MethodPut, []string{TTLHeader, "21600"}, http.StatusOK},
		{"put-without-ttl-refused", http.MethodPut, nil, http.StatusBadRequest},
		{"put-with-zero-ttl-refused", http.MethodPut, []string{TTLHeader, "0"}, http.StatusBadRequest},
		{"put-with-too-long-ttl-refused", http.MethodPut, []string{TTLHeader, "21601"}, http.StatusBadRequest},
		{"put-with-non-numeric-ttl-refused", http.MethodPut, []string{TTLHeader, "5m"}, http.StatusBadRequest},
		{"put-through-proxy-forbidden", http.MethodPut, []string{TTLHeader, "300", "X-Forwarded-For", "10.0.0.1"}, http.StatusForbidden},
		{"get-on-token-path-not-allowed", http.MethodGet, []string{TTLHeader, "300"}, http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv, _ := start(t, Config{})
			a := do(t, srv, tc.method, TokenPath, tc.headers...)
			if a.status != tc.want {
				t.Fatalf("status = %d, want %d (body %q)", a.status, tc.want, a.body)
			}
			if tc.want == http.StatusOK {
				if got, want := a.header.Get(TTLHeader), tc.headers[1]; got != want {
					t.Errorf("TTL header echoed = %q, want %q", got, want)
				}
				if a.body == "" {
					t.Error("empty token")
				}
			}
		})
	}
}

func TestTokenValidity(t *testing.T) {
	const path = MetaPrefix + "instance-id"
	tests := []struct {
		name    string
		advance time.Duration // clock moves after the token is issued with a 10s TTL
		header  func(tok string) []string
		want    int
	}{
		{"valid-token-served", 0, func(tok string) []string { return []string{TokenHeader, tok} }, http.StatusOK},
		{"token-valid-until-ttl", 9 * time.Second, func(tok string) []string { return []string{TokenHeader, tok} }, http.StatusOK},
		{"expired-token-unauthorized", 10 * time.Second, func(tok string) []string { return []string{TokenHeader, tok} }, http.StatusUnauthorized},
		{"missing-token-unauthorized", 0, func(string) []string { return nil }, http.StatusUnauthorized},
		{"unknown-token-unauthorized", 0, func(string) []string { return []string{TokenHeader, "AAAA"} }, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv, clk := start(t, Config{})
			tok := token(t, srv, 10)
			clk.Advance(tc.advance)
			a := do(t, srv, http.MethodGet, path, tc.header(tok)...)
			if a.status != tc.want {
				t.Fatalf("status = %d, want %d", a.status, tc.want)
			}
		})
	}
	t.Run("dropped-tokens-unauthorized", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		tok := token(t, srv, 60)
		e.DropTokens()
		if a := do(t, srv, http.MethodGet, path, TokenHeader, tok); a.status != http.StatusUnauthorized {
			t.Fatalf("status = %d, want 401", a.status)
		}
	})
}

func TestPaths(t *testing.T) {
	e, srv, _ := start(t, Config{InstanceID: "i-0abcdef1234567890", Region: "us-west-2", Zone: "us-west-2-lax-1a"})
	chain := string(e.PKI().ChainPEM(false))
	tests := []struct {
		name   string
		method string
		path   string
		status int
		body   string
	}{
		{"instance-id", http.MethodGet, MetaPrefix + "instance-id", 200, "i-0abcdef1234567890"},
		{"trailing-slash-served", http.MethodGet, MetaPrefix + "instance-id/", 200, "i-0abcdef1234567890"},
		{"head-served-without-body", http.MethodHead, MetaPrefix + "instance-id", 200, ""},
		{"zone", http.MethodGet, MetaPrefix + "placement/availability-zone", 200, "us-west-2-lax-1a"},
		{"region", http.MethodGet, MetaPrefix + "placement/region/", 200, "us-west-2"},
		{"domain", http.MethodGet, MetaPrefix + "services/domain", 200, "amazonaws.com"},
		{"signer-cert-without-root", http.MethodGet, MetaPrefix + "managed-ssh-keys/signer-cert/", 200, chain},
		{"keys-for-user-without-keys-not-found", http.MethodGet, MetaPrefix + "managed-ssh-keys/active-keys/alice/", 404, ""},
		{"head-keys-not-found", http.MethodHead, MetaPrefix + "managed-ssh-keys/active-keys/alice/", 404, ""},
		{"unknown-path-not-found", http.MethodGet, MetaPrefix + "iam/security-credentials/", 404, ""},
		{"outside-meta-data-not-found", http.MethodGet, "/latest/user-data", 404, ""},
		{"post-not-allowed", http.MethodPost, MetaPrefix + "instance-id", 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, srv, tc.method, tc.path, TokenHeader, token(t, srv, 60))
			if a.status != tc.status {
				t.Fatalf("status = %d, want %d", a.status, tc.status)
			}
			if tc.status == 200 {
				if diff := cmp.Diff(tc.body, a.body); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
		})
	}
	t.Run("head-reports-length", func(t *testing.T) {
		a := do(t, srv, http.MethodHead, MetaPrefix+"instance-id", TokenHeader, token(t, srv, 60))
		if got, want := a.header.Get("Content-Length"), "19"; got != want {
			t.Fatalf("Content-Length = %q, want %q", got, want)
		}
	})
}

func TestFaults(t *testing.T) {
	idPath := MetaPrefix + "instance-id"
	t.Run("no-tokens-refuses-put-and-serves-v1", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		e.SetFaults(Faults{NoTokens: true})
		if a := do(t, srv, http.MethodPut, TokenPath, TTLHeader, "60"); a.status != http.StatusForbidden {
			t.Fatalf("token PUT status = %d, want 403", a.status)
		}
		a := do(t, srv, http.MethodGet, idPath)
		if a.status != 200 || a.body != DefaultInstanceID {
			t.Fatalf("v1 GET = %d %q, want 200 %q", a.status, a.body, DefaultInstanceID)
		}
	})
	t.Run("status-answers-metadata-but-not-token", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		e.SetFaults(Faults{Status: 500})
		if a := get(t, srv, idPath); a.status != 500 {
			t.Fatalf("status = %d, want 500", a.status)
		}
	})
	t.Run("oversize-body", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		e.SetFaults(Faults{Oversize: true})
		if a := get(t, srv, idPath); len(a.body) != OversizeBytes {
			t.Fatalf("body length = %d, want %d", len(a.body), OversizeBytes)
		}
	})
	t.Run("placement-overrides", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		e.SetFaults(Faults{Region: "eu-west-1", Zone: "eu-west-1b", Domain: "attacker.example"})
		got := []string{
			get(t, srv, MetaPrefix+"placement/region").body,
			get(t, srv, MetaPrefix+"placement/availability-zone").body,
			get(t, srv, MetaPrefix+"services/domain").body,
		}
		if diff := cmp.Diff([]string{"eu-west-1", "eu-west-1b", "attacker.example"}, got); diff != "" {
			t.Fatalf("served (-want +got):\n%s", diff)
		}
	})
	t.Run("chain-includes-root", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		e.SetFaults(Faults{ChainIncludesRoot: true})
		got := get(t, srv, MetaPrefix+"managed-ssh-keys/signer-cert").body
		if diff := cmp.Diff(string(e.PKI().ChainPEM(true)), got); diff != "" {
			t.Fatalf("chain (-want +got):\n%s", diff)
		}
	})
	t.Run("chain-override", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		e.SetFaults(Faults{Chain: []byte("not a chain")})
		if got := get(t, srv, MetaPrefix+"managed-ssh-keys/signer-cert").body; got != "not a chain" {
			t.Fatalf("chain = %q, want the override", got)
		}
	})
	t.Run("revoked-tokens-unauthorized-until-cleared", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		tok := token(t, srv, 60)
		e.SetFaults(Faults{RevokeTokens: true})
		if a := do(t, srv, http.MethodGet, idPath, TokenHeader, tok); a.status != 401 {
			t.Fatalf("old token status = %d, want 401", a.status)
		}
		if a := get(t, srv, idPath); a.status != 401 {
			t.Fatalf("new token status = %d, want 401", a.status)
		}
		e.SetFaults(Faults{})
		if a := do(t, srv, http.MethodGet, idPath, TokenHeader, tok); a.status != 200 {
			t.Fatalf("after clearing, status = %d, want 200", a.status)
		}
	})
	t.Run("latency-still-answers", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		e.SetFaults(Faults{Latency: time.Millisecond})
		if a := get(t, srv, idPath); a.status != 200 {
			t.Fatalf("status = %d, want 200", a.status)
		}
	})
	t.Run("hang-until-client-gives-up", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		e.SetFaults(Faults{Hang: true})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+TokenPath, nil)
			req.Header.Set(TTLHeader, "60")
			resp, err := srv.Client().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		testkit.WaitFor(t, "the hung request to arrive", func() bool { return e.Count(TokenPath) == 1 })
		select {
		case err := <-done:
			t.Fatalf("hung request finished before the client gave up: %v", err)
		default:
		}
		cancel()
		if err := <-done; err == nil {
			t.Fatal("hung request answered")
		}
	})
	t.Run("hang-released-by-close", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		e.SetFaults(Faults{Hang: true})
		done := make(chan int, 1)
		go func() {
			resp, err := srv.Client().Get(srv.URL + idPath)
			if err != nil {
				done <- -1
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		testkit.WaitFor(t, "the hung request to arrive", func() bool { return e.Count(idPath) == 1 })
		e.Close()
		if got := <-done; got != http.StatusServiceUnavailable {
			t.Fatalf("released request status = %d, want 503", got)
		}
	})
}

func TestCounts(t *testing.T) {
	e, srv, _ := start(t, Config{})
	tok := token(t, srv, 60)
	for _, p := range []string{"instance-id", "instance-id/", "placement/region"} {
		do(t, srv, http.MethodGet, MetaPrefix+p, TokenHeader, tok)
	}
	do(t, srv, http.MethodGet, MetaPrefix+"instance-id") // 401s count too
	want := map[string]int{
		TokenPath:                       1,
		MetaPrefix + "instance-id":      3,
		MetaPrefix + "placement/region": 1,
	}
	if diff := cmp.Diff(want, e.Counts()); diff != "" {
		t.Fatalf("counts (-want +got):\n%s", diff)
	}
	if got := e.Count(MetaPrefix + "instance-id/"); got != 3 {
		t.Errorf("Count with trailing slash = %d, want 3", got)
	}
	if got := e.Total(); got != 5 {
		t.Errorf("Total = %d, want 5", got)
	}
	e.ResetCounts()
	if got := e.Total() + len(e.Counts()); got != 0 {
		t.Errorf("after reset, total+len(counts) = %d, want 0", got)
	}
	t.Run("take-returns-and-zeroes", func(t *testing.T) {
		do(t, srv, http.MethodGet, MetaPrefix+"instance-id")
		got, total := e.TakeCounts()
		if diff := cmp.Diff(map[string]int{MetaPrefix + "instance-id": 1}, got); diff != "" || total != 1 {
			t.Fatalf("TakeCounts total %d, counts (-want +got):\n%s", total, diff)
		}
		if n := e.Total() + len(e.Counts()); n != 0 {
			t.Fatalf("after TakeCounts, total+len(counts) = %d, want 0", n)
		}
	})
}

func TestConfigDefaults(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{e.InstanceID(), e.PKI().Signer.Cert.Subject.CommonName}
	want := []string{DefaultInstanceID, "managed-ssh-signer.us-east-1.amazonaws.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(e.RootPEM()), "BEGIN CERTIFICATE") {
		t.Fatalf("RootPEM is not PEM: %q", e.RootPEM())
	}
}
