package imds

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/eic-agent/eic-agent/agent/emulator"
)

func TestTokenTTLShortenedSoTheSDKRenewsEarly(t *testing.T) {
	f := newFixture(t, emulator.Config{}, nil)
	tests := []struct {
		name      string
		requested int
		want      int
	}{
		{"sdk-default-300s-renewed-a-minute-early", 300, 240},
		{"long-token-renewed-a-fifth-early", 21600, 17280},
		{"short-token-renewed-a-second-early", 4, 3},
		{"one-second-token-left-alone", 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPut, f.srv.URL+tokenURLPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(ttlHeader, strconv.Itoa(tc.requested))
			resp, err := (&capTransport{next: http.DefaultTransport, max: 1 << 20}).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get(ttlHeader); got != strconv.Itoa(tc.want) {
				t.Fatalf("TTL seen by the SDK = %s, want %d (IMDS granted %d)", got, tc.want, tc.requested)
			}
		})
	}
}
