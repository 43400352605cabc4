package emulator

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// setDripTicks makes Faults.SlowDrip wait for a value on c before each byte instead of a timer,
// so a test decides when each byte may go.
func (e *Emulator) setDripTicks(c <-chan time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dripTicks = c
}

// send makes one request and returns the response with its body unread.
func send(t *testing.T, srv *httptest.Server, method, path string, headers ...string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func TestResetFault(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		path    string
		headers []string
	}{
		{"metadata-request-reset", http.MethodGet, MetaPrefix + "instance-id", nil},
		{"token-request-reset", http.MethodPut, TokenPath, []string{TTLHeader, "60"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, srv, _ := start(t, Config{})
			e.SetFaults(Faults{Reset: true})
			resp, err := send(t, srv, tc.method, tc.path, tc.headers...)
			if err == nil {
				t.Fatalf("got status %d, want the connection reset without an answer", resp.StatusCode)
			}
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("error = %v, want connection reset by peer", err)
			}
			if got := e.Count(tc.path); got != 1 {
				t.Fatalf("requests counted = %d, want 1", got)
			}
		})
	}
	t.Run("served-again-once-cleared", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		e.SetFaults(Faults{Reset: true})
		if _, err := send(t, srv, http.MethodGet, MetaPrefix+"instance-id"); err == nil {
			t.Fatal("request answered under Reset")
		}
		e.SetFaults(Faults{})
		if a := get(t, srv, MetaPrefix+"instance-id"); a.status != http.StatusOK {
			t.Fatalf("status = %d, want 200", a.status)
		}
	})
}

func TestSlowDripFault(t *testing.T) {
	idPath := MetaPrefix + "instance-id"
	t.Run("one-byte-per-tick", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		tok := token(t, srv, 60)
		ticks := make(chan time.Time)
		e.setDripTicks(ticks)
		e.SetFaults(Faults{SlowDrip: time.Hour}) // only the ticks can move it along
		resp, err := send(t, srv, http.MethodGet, idPath, TokenHeader, tok)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ContentLength != int64(len(DefaultInstanceID)) {
			t.Fatalf("Content-Length = %d, want %d", resp.ContentLength, len(DefaultInstanceID))
		}
		var got []byte
		reads := 0
		buf := make([]byte, 64)
		for {
			if len(got) < len(DefaultInstanceID) {
				ticks <- time.Time{} // lets exactly one more byte go
			}
			n, err := resp.Body.Read(buf)
			if n > 0 {
				reads++
				if n != 1 {
					t.Fatalf("read %d bytes at once (%q), want one per flush", n, buf[:n])
				}
				got = append(got, buf[:n]...)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != DefaultInstanceID || reads != len(DefaultInstanceID) {
			t.Fatalf("body %q in %d reads, want %q in %d", got, reads, DefaultInstanceID, len(DefaultInstanceID))
		}
	})
	t.Run("real-interval-completes", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		e.SetFaults(Faults{SlowDrip: time.Microsecond})
		if a := get(t, srv, idPath); a.status != http.StatusOK || a.body != DefaultInstanceID {
			t.Fatalf("got %d %q, want 200 %q", a.status, a.body, DefaultInstanceID)
		}
	})
	t.Run("close-sends-the-rest-at-once", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		tok := token(t, srv, 60)
		e.SetFaults(Faults{SlowDrip: time.Hour})
		resp, err := send(t, srv, http.MethodGet, idPath, TokenHeader, tok)
		if err != nil {
			t.Fatal(err)
		}
		e.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != DefaultInstanceID {
			t.Fatalf("body %q, error %v; want %q", body, err, DefaultInstanceID)
		}
	})
	t.Run("head-has-no-body-to-drip", func(t *testing.T) {
		e, srv, _ := start(t, Config{})
		tok := token(t, srv, 60)
		e.SetFaults(Faults{SlowDrip: time.Hour})
		if a := do(t, srv, http.MethodHead, idPath, TokenHeader, tok); a.status != http.StatusOK {
			t.Fatalf("status = %d, want 200", a.status)
		}
	})
}

func TestThrottleFault(t *testing.T) {
	e, srv, _ := start(t, Config{})
	e.SetFaults(Faults{Throttle: true})
	tests := []struct {
		name   string
		method string
		path   string
		want   int
	}{
		{"token-still-issued", http.MethodPut, TokenPath, http.StatusOK},
		{"metadata-throttled", http.MethodGet, MetaPrefix + "instance-id", http.StatusTooManyRequests},
		{"head-throttled", http.MethodHead, MetaPrefix + "managed-ssh-keys/active-keys/alice/", http.StatusTooManyRequests},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, srv, tc.method, tc.path, TTLHeader, "60", TokenHeader, "x")
			if a.status != tc.want {
				t.Fatalf("status = %d, want %d", a.status, tc.want)
			}
		})
	}
}
