package imds

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// newHTTPClient builds the client the SDK sends through: never a proxy from the environment
// (IMDS is link-local, and a proxy would see our tokens), every timeout set, bodies capped.
func newHTTPClient(timeout time.Duration, maxBody int64) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  timeout,
		MaxIdleConns:           2,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		// IMDS never compresses; asking for gzip would only let a body expand past our cap
		// after decompression.
		DisableCompression: true,
	}
	return &http.Client{
		// One attempt, body included: the SDK's retryer makes the next one.
		Timeout:   timeout,
		Transport: &capTransport{next: tr, max: maxBody},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // IMDS does not redirect; never follow one elsewhere
		},
	}
}

// exchange is what one HTTP round trip ended with, seen below the SDK.
type exchange struct {
	method string
	path   string
	status int    // 0 when there was no answer
	err    error  // transport error
	date   string // the answer's Date header, for the clock check of eic-agent doctor
}

// recorder watches one call's round trips. The SDK wraps token failures in an error type
// without Unwrap, so errors.As cannot see why a token fetch failed; the recorder can.
type recorder struct {
	mu       sync.Mutex
	last     exchange
	tooLarge bool
}

func (r *recorder) record(x exchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = x
}

func (r *recorder) markTooLarge() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tooLarge = true
}

func (r *recorder) snapshot() (exchange, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.tooLarge
}

type recorderKey struct{}

func withRecorder(ctx context.Context, r *recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// capTransport records each exchange and caps every response body.
type capTransport struct {
	next http.RoundTripper
	max  int64
}

func (t *capTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec, _ := req.Context().Value(recorderKey{}).(*recorder)
	resp, err := t.next.RoundTrip(req)
	if rec != nil {
		x := exchange{method: req.Method, path: req.URL.Path, err: err}
		if resp != nil {
			x.status, x.date = resp.StatusCode, resp.Header.Get("Date")
		}
		rec.record(x)
	}
	if err != nil {
		return nil, err
	}
	if req.Method == http.MethodPut && req.URL.Path == tokenURLPath && resp.StatusCode == http.StatusOK {
		shortenTokenTTL(resp.Header)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.max, max: t.max, rec: rec, declared: resp.ContentLength}
	return resp, nil
}

// ttlHeader carries a session token's lifetime in seconds, in the PUT and in its answer.
const ttlHeader = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"

// shortenTokenTTL makes the SDK renew its session token before IMDS expires it. The SDK
// computes the expiry from the TTL header when the answer arrives, later than IMDS started
// counting, and renews only once that time has passed; a request sent at the edge would get a
// 401 and spend a retry. Telling it a fifth less (at least a second) renews it early instead.
func shortenTokenTTL(h http.Header) {
	ttl, err := strconv.Atoi(h.Get(ttlHeader))
	if err != nil || ttl <= 1 {
		return
	}
	h.Set(ttlHeader, strconv.Itoa(ttl-max(ttl/5, 1)))
}

// tooLargeError is the read error of a body over the cap. It has no Temporary or Timeout
// method, so the SDK does not retry it: a bigger answer will not get smaller.
type tooLargeError struct{ max int64 }

func (e *tooLargeError) Error() string        { return fmt.Sprintf("response larger than %d bytes", e.max) }
func (e *tooLargeError) Is(target error) bool { return target == ErrTooLarge }

// cappedBody fails once more than max bytes arrive, or at once when the declared length is
// already over, so an oversized answer is never read into memory.
type cappedBody struct {
	rc       io.ReadCloser
	left     int64
	max      int64
	declared int64
	rec      *recorder
	err      error
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.declared > b.max {
		return 0, b.fail()
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		return 0, b.fail()
	}
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) fail() error {
	b.err = &tooLargeError{max: b.max}
	if b.rec != nil {
		b.rec.markTooLarge()
	}
	return b.err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
