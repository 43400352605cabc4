package emulator

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// reply writes one answer, dripping its body under Faults.SlowDrip.
type reply struct {
	w      http.ResponseWriter
	r      *http.Request
	drip   time.Duration
	ticks  <-chan time.Time // paces the drip in tests; nil: one timer per byte
	closed <-chan struct{}  // Emulator.Close: stop dripping, send the rest at once
}

func (o reply) body(status int, body []byte) {
	h := o.w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/plain")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Server", "EC2ws")
	o.w.WriteHeader(status)
	if o.r.Method == http.MethodHead {
		return
	}
	if o.drip <= 0 || len(body) == 0 {
		_, _ = o.w.Write(body) // the client may be gone; nothing to do about it
		return
	}
	o.dripBody(body)
}

// dripBody sends the headers at once, then each byte after an interval. The full
// Content-Length is announced, so the client knows the body is not complete until the end.
func (o reply) dripBody(body []byte) {
	rc := http.NewResponseController(o.w)
	if err := rc.Flush(); err != nil {
		_, _ = o.w.Write(body) // cannot flush: dripping would only buffer
		return
	}
	for i := range body {
		next := o.ticks
		if next == nil {
			next = time.After(o.drip)
		}
		select {
		case <-o.r.Context().Done():
			return
		case <-o.closed:
			_, _ = o.w.Write(body[i:])
			return
		case <-next:
		}
		if _, err := o.w.Write(body[i : i+1]); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// status answers with the small HTML page real IMDS sends with its errors, so a client that
// treated an error body as data would be caught by the tests.
func (o reply) status(status int) {
	text := fmt.Sprintf("%d - %s", status, http.StatusText(status))
	page := `<?xml version="1.0" encoding="iso-8859-1"?>` + "\n" +
		`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">` + "\n" +
		`<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">` + "\n" +
		" <head>\n  <title>" + text + "</title>\n </head>\n <body>\n  <h1>" + text + "</h1>\n </body>\n</html>\n"
	o.w.Header().Set("Content-Type", "text/html")
	o.body(status, []byte(page))
}

// resetConn drops the connection without an answer. A hijacked TCP connection is closed with
// SO_LINGER 0, which sends RST instead of FIN, so the client sees "connection reset by peer".
// Where the connection cannot be hijacked (HTTP/2), aborting the handler resets the stream.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if u, ok := conn.(interface{ NetConn() net.Conn }); ok { // TLS
		raw = u.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = raw.Close()
}
