package imds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eic-agent/eic-agent/agent/emulator"
)

func TestFailures(t *testing.T) {
	idPath := meta + "instance-id"
	tests := []struct {
		name    string
		emu     emulator.Config
		faults  emulator.Faults
		cfg     Config
		budget  time.Duration // the caller's deadline
		wantIs  error
		wantMsg string         // substring of the message
		counts  map[string]int // requests the emulator saw
	}{
		{
			name:    "imdsv1-only-refused-without-fallback",
			faults:  emulator.Faults{NoTokens: true},
			wantIs:  ErrTokenRefused,
			wantMsg: "imds PUT api/token: HTTP 403: IMDSv2 session tokens are refused and eic-agent never falls back to IMDSv1",
			counts:  map[string]int{tokenPath: 1}, // 403 is final, and the v1 data is never asked for
		},
		{
			name:    "server-error-retried-then-reported",
			faults:  emulator.Faults{Status: 500},
			wantMsg: "imds GET meta-data/instance-id: HTTP 500: the metadata service is failing",
			counts:  map[string]int{tokenPath: 1, idPath: 2},
		},
		{
			name:    "throttling-retried-then-explained",
			faults:  emulator.Faults{Throttle: true},
			wantMsg: "imds GET meta-data/instance-id: HTTP 429: the metadata service is throttling this instance",
			counts:  map[string]int{tokenPath: 1, idPath: 2},
		},
		{
			name:    "server-error-tried-as-often-as-configured",
			faults:  emulator.Faults{Status: 503},
			cfg:     Config{Attempts: 4},
			wantMsg: "imds GET meta-data/instance-id: HTTP 503",
			counts:  map[string]int{tokenPath: 1, idPath: 4},
		},
		{
			// The SDK drops its token after a 401 and fetches a new one for the next attempt;
			// with every token refused, Attempts bounds both.
			name:    "revoked-tokens-reported-as-401",
			faults:  emulator.Faults{RevokeTokens: true},
			wantMsg: "imds GET meta-data/instance-id: HTTP 401: the metadata service rejected our session token",
			counts:  map[string]int{tokenPath: 2, idPath: 2},
		},
		{
			name:    "oversize-body-refused-and-not-retried",
			faults:  emulator.Faults{Oversize: true},
			wantIs:  ErrTooLarge,
			wantMsg: "imds GET meta-data/instance-id: response larger than 1048576 bytes",
			counts:  map[string]int{tokenPath: 1, idPath: 1},
		},
		{
			name:    "token-over-configured-cap-refused",
			cfg:     Config{MaxBodyBytes: 8},
			wantIs:  ErrTooLarge,
			wantMsg: "imds PUT api/token: response larger than 8 bytes",
			counts:  map[string]int{tokenPath: 1},
		},
		{
			name:    "malformed-instance-id-refused",
			emu:     emulator.Config{InstanceID: "i-XYZ"},
			wantIs:  ErrInvalid,
			wantMsg: `imds GET meta-data/instance-id: invalid metadata: "i-XYZ" is not i- and 8..32 lowercase hex digits`,
			counts:  map[string]int{tokenPath: 1, idPath: 1},
		},
		{
			name:    "hang-returns-at-callers-deadline",
			faults:  emulator.Faults{Hang: true},
			cfg:     Config{RequestTimeout: time.Minute},
			budget:  100 * time.Millisecond,
			wantIs:  context.DeadlineExceeded,
			wantMsg: "imds PUT api/token: no answer before the deadline",
			counts:  map[string]int{tokenPath: 1},
		},
		{
			name:    "hang-bounded-per-attempt",
			faults:  emulator.Faults{Hang: true},
			cfg:     Config{RequestTimeout: 20 * time.Millisecond, Attempts: 3},
			wantIs:  ErrUnreachable,
			wantMsg: "cannot reach http://127.0.0.1:",
			counts:  map[string]int{tokenPath: 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.emu, nil)
			f.emu.SetFaults(tc.faults)
			budget := tc.budget
			if budget == 0 {
				budget = 30 * time.Second
			}
			id, err := f.client(tc.cfg).InstanceID(deadline(t, budget))
			if err == nil {
				t.Fatalf("InstanceID = %q, want an error", id)
			}
			if id != "" {
				t.Errorf("InstanceID returned %q alongside the error", id)
			}
			var ie *Error
			if !errors.As(err, &ie) {
				t.Errorf("err is %T, want *Error", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("err = %v, want it to match %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("message:\n got %q\nwant it to contain %q", err.Error(), tc.wantMsg)
			}
			if diff := cmp.Diff(tc.counts, f.emu.Counts()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more: connection refused
	_, err = New(Config{Endpoint: endpoint}).InstanceID(deadline(t, 30*time.Second))
	want := fmt.Sprintf("imds: cannot reach %s: connection refused (is this an EC2 instance with the metadata service enabled?)", endpoint)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err does not match ErrUnreachable")
	}
}

func TestStapleNamesValidation(t *testing.T) {
	hex40 := strings.Repeat("AB", 20)
	tests := []struct {
		name    string
		body    string
		want    []string
		wantErr bool
	}{
		{"two-names", hex40 + "\n" + strings.Repeat("cd", 32), []string{hex40, strings.Repeat("cd", 32)}, false},
		{"trailing-newline-accepted", hex40 + "\n", []string{hex40}, false},
		{"empty-list-is-no-names", "", nil, false},
		{"sha512-length-accepted", strings.Repeat("A", 128), []string{strings.Repeat("A", 128)}, false},
		{"short-name-refused", "ABCDEF", nil, true},
		{"long-name-refused", strings.Repeat("A", 129), nil, true},
		{"non-hex-refused", strings.Repeat("G", 40), nil, true},
		{"traversal-refused", "../../../etc/passwd", nil, true},
		{"blank-line-refused", hex40 + "\n\n" + hex40, nil, true},
		{"crlf-refused", hex40 + "\r\n" + hex40, nil, true},
		{"seventeen-names-refused", strings.Repeat(hex40+"\n", 17), nil, true},
		{"sixteen-names-accepted", strings.TrimSuffix(strings.Repeat(hex40+"\n", 16), "\n"), sixteen(hex40), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, emulator.Config{}, func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != meta+"managed-ssh-keys/signer-ocsp/" {
					return false
				}
				if r.Header.Get(emulator.TokenHeader) == "" {
					w.WriteHeader(http.StatusUnauthorized)
					return true
				}
				_, _ = io.WriteString(w, tc.body)
				return true
			})
			got, err := f.client(Config{}).StapleNames(deadline(t, 30*time.Second))
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("StapleNames = %q, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("names (-want +got):\n%s", diff)
			}
		})
	}
}

func sixteen(s string) []string {
	out := make([]string, 16)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestCappedBody(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		declared int64 // -1: unknown length, as with chunked encoding
		max      int64
		wantErr  bool
	}{
		{"under-cap", "abc", -1, 4, false},
		{"exactly-cap", "abcd", -1, 4, false},
		{"over-cap-streamed", "abcde", -1, 4, true},
		{"over-cap-declared", "abcde", 5, 4, true},
		{"empty", "", 0, 4, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			b := &cappedBody{rc: io.NopCloser(strings.NewReader(tc.body)), left: tc.max, max: tc.max, declared: tc.declared, rec: rec}
			got, err := io.ReadAll(b)
			_, marked := rec.snapshot()
			if tc.wantErr {
				if !errors.Is(err, ErrTooLarge) || !marked {
					t.Fatalf("ReadAll = %q, %v (marked %v); want ErrTooLarge, marked", got, err, marked)
				}
				if int64(len(got)) > tc.max {
					t.Fatalf("read %d bytes past a cap of %d", len(got), tc.max)
				}
				return
			}
			if err != nil || !bytes.Equal(got, []byte(tc.body)) {
				t.Fatalf("ReadAll = %q, %v; want %q, nil", got, err, tc.body)
			}
		})
	}
}

func TestTokenFailures(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		wantIs  error
		wantMsg string
		puts    int
	}{
		{"token-server-error-retried", 500, nil, "imds PUT api/token: HTTP 500", 2},
		{"token-unauthorized-refused", 401, ErrTokenRefused, "imds PUT api/token: HTTP 401: IMDSv2 session tokens are refused", 1},
		{"token-bad-request-not-retried", 400, nil, "imds PUT api/token: HTTP 400", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, emulator.Config{}, func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path == tokenPath {
					w.WriteHeader(tc.status)
					return true
				}
				return false
			})
			_, err := f.client(Config{}).Region(deadline(t, 30*time.Second))
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantMsg)
			}
			var ie *Error
			if !errors.As(err, &ie) || ie.Status != tc.status || ie.Path != "api/token" {
				t.Fatalf("err = %#v, want *Error for api/token with status %d", err, tc.status)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("err = %v, want it to match %v", err, tc.wantIs)
			}
			var want []string // only token PUTs: the metadata is never asked for
			for range tc.puts {
				want = append(want, "PUT "+tokenPath)
			}
			if diff := cmp.Diff(want, f.rawPaths()); diff != "" {
				t.Fatalf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBundleOverCap(t *testing.T) {
	f := newFixture(t, emulator.Config{}, nil)
	for range 4 {
		pushKey(t, f.emu, "alice")
	}
	_, err := f.client(Config{MaxBodyBytes: 512}).Keys(deadline(t, 30*time.Second), "alice")
	want := "imds GET meta-data/managed-ssh-keys/active-keys/alice/: response larger than 512 bytes"
	if err == nil || err.Error() != want || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want %q matching ErrTooLarge", err, want)
	}
}
