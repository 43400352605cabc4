package emulator

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

// Paths and headers of IMDSv2.
const (
	TokenPath   = "/latest/api/token"
	MetaPrefix  = "/latest/meta-data/"
	TokenHeader = "X-Aws-Ec2-Metadata-Token"
	TTLHeader   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	// MaxTokenTTL is the longest token IMDS grants, in seconds.
	MaxTokenTTL = 21600
	// OversizeBytes is the body size served under Faults.Oversize: one byte over 1 MiB.
	OversizeBytes = 1<<20 + 1
)

// ServeHTTP answers one IMDS request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := countKey(r.URL.Path)
	e.mu.Lock()
	e.counts[key]++
	f := e.faults // SetFaults copies Chain, so f never shares memory a later call mutates
	p := e.pki
	out := reply{w: w, r: r, drip: f.SlowDrip, ticks: e.dripTicks, closed: e.closed}
	e.mu.Unlock()
	// IMDS sends its own time, as net/http would; from the emulator's clock, so a test can
	// play an instance whose clock is off (eic-agent doctor compares against it).
	w.Header().Set("Date", e.cfg.Now().UTC().Format(http.TimeFormat))

	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-e.closed:
			out.status(http.StatusServiceUnavailable)
		}
		return
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-e.closed:
			t.Stop()
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if f.Reset {
		resetConn(w)
		return
	}
	if key == TokenPath {
		e.serveToken(out, f)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		out.status(http.StatusMethodNotAllowed)
		return
	}
	if f.Status != 0 {
		out.status(f.Status)
		return
	}
	if f.Throttle {
		out.status(http.StatusTooManyRequests)
		return
	}
	// Without tokens IMDS is in IMDSv1-only mode: it serves anyone, which is exactly what our
	// client must never rely on.
	if !f.NoTokens && !e.validToken(r.Header.Get(TokenHeader), f) {
		out.status(http.StatusUnauthorized)
		return
	}
	body, status := e.route(p, key, f)
	if status != http.StatusOK {
		out.status(status)
		return
	}
	if f.Oversize {
		body = bytes.Repeat([]byte("A"), OversizeBytes)
	}
	out.body(http.StatusOK, body)
}

func (e *Emulator) serveToken(out reply, f Faults) {
	r := out.r
	if r.Method != http.MethodPut {
		out.w.Header().Set("Allow", "PUT")
		out.status(http.StatusMethodNotAllowed)
		return
	}
	// IMDS refuses tokens to requests that went through a proxy, so a token cannot leak to
	// whatever sits behind one.
	if len(r.Header.Values("X-Forwarded-For")) > 0 || f.NoTokens {
		out.status(http.StatusForbidden)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get(TTLHeader))
	if err != nil || ttl < 1 || ttl > MaxTokenTTL {
		out.status(http.StatusBadRequest)
		return
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		out.status(http.StatusInternalServerError)
		return
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	e.mu.Lock()
	now := e.cfg.Now()
	for t, exp := range e.tokens { // keep the map bounded by the live tokens
		if !now.Before(exp) {
			delete(e.tokens, t)
		}
	}
	e.tokens[tok] = now.Add(time.Duration(ttl) * time.Second)
	e.mu.Unlock()
	out.w.Header().Set(TTLHeader, strconv.Itoa(ttl))
	out.body(http.StatusOK, []byte(tok))
}

func (e *Emulator) validToken(tok string, f Faults) bool {
	if tok == "" || f.RevokeTokens {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	exp, ok := e.tokens[tok]
	if !ok {
		return false
	}
	if !e.cfg.Now().Before(exp) {
		delete(e.tokens, tok)
		return false
	}
	return true
}

// route maps a normalised path to its body, with p as the current hierarchy.
func (e *Emulator) route(p *pki.PKI, key string, f Faults) ([]byte, int) {
	rest, ok := strings.CutPrefix(key, MetaPrefix)
	if !ok {
		return nil, http.StatusNotFound
	}
	switch rest {
	case "instance-id":
		return []byte(e.cfg.InstanceID), http.StatusOK
	case "placement/availability-zone":
		return []byte(pick(f.Zone, e.cfg.Zone)), http.StatusOK
	case "placement/region":
		return []byte(pick(f.Region, e.cfg.Region)), http.StatusOK
	case "services/domain":
		return []byte(pick(f.Domain, e.cfg.Domain)), http.StatusOK
	case "managed-ssh-keys/signer-cert":
		if len(f.Chain) > 0 {
			return f.Chain, http.StatusOK
		}
		return p.ChainPEM(f.ChainIncludesRoot), http.StatusOK
	case "managed-ssh-keys/signer-ocsp":
		return stapleList(p, f), http.StatusOK
	}
	if name, ok := strings.CutPrefix(rest, "managed-ssh-keys/signer-ocsp/"); ok {
		return e.staple(p, name, f)
	}
	if user, ok := strings.CutPrefix(rest, "managed-ssh-keys/active-keys/"); ok && !strings.Contains(user, "/") {
		if body, ok := e.keysBody(user); ok {
			return body, http.StatusOK
		}
	}
	return nil, http.StatusNotFound
}

func pick(override, value string) string {
	if override != "" {
		return override
	}
	return value
}
