package emulator

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
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
	e.total++
	f := e.faults // SetFaults copies Chain, so f never shares memory a later call mutates
	e.mu.Unlock()

	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-e.closed:
			writeStatus(w, r, http.StatusServiceUnavailable)
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
	if key == TokenPath {
		e.serveToken(w, r, f)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, r, http.StatusMethodNotAllowed)
		return
	}
	if f.Status != 0 {
		writeStatus(w, r, f.Status)
		return
	}
	// Without tokens IMDS is in IMDSv1-only mode: it serves anyone, which is exactly what our
	// client must never rely on.
	if !f.NoTokens && !e.validToken(r.Header.Get(TokenHeader), f) {
		writeStatus(w, r, http.StatusUnauthorized)
		return
	}
	body, status := e.route(key, f)
	if status != http.StatusOK {
		writeStatus(w, r, status)
		return
	}
	if f.Oversize {
		body = bytes.Repeat([]byte("A"), OversizeBytes)
	}
	writeBody(w, r, http.StatusOK, body)
}

func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request, f Faults) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", "PUT")
		writeStatus(w, r, http.StatusMethodNotAllowed)
		return
	}
	// IMDS refuses tokens to requests that went through a proxy, so a token cannot leak to
	// whatever sits behind one.
	if len(r.Header.Values("X-Forwarded-For")) > 0 || f.NoTokens {
		writeStatus(w, r, http.StatusForbidden)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get(TTLHeader))
	if err != nil || ttl < 1 || ttl > MaxTokenTTL {
		writeStatus(w, r, http.StatusBadRequest)
		return
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		writeStatus(w, r, http.StatusInternalServerError)
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
	w.Header().Set(TTLHeader, strconv.Itoa(ttl))
	writeBody(w, r, http.StatusOK, []byte(tok))
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

// route maps a normalised path to its body.
func (e *Emulator) route(key string, f Faults) ([]byte, int) {
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
		return e.cfg.PKI.ChainPEM(f.ChainIncludesRoot), http.StatusOK
	case "managed-ssh-keys/signer-ocsp":
		return e.stapleList(f), http.StatusOK
	}
	if name, ok := strings.CutPrefix(rest, "managed-ssh-keys/signer-ocsp/"); ok {
		return e.staple(name, f)
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

func writeBody(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/plain")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Server", "EC2ws")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // the client may be gone; nothing to do about it
	}
}

// writeStatus answers with the small HTML page real IMDS sends with its errors, so a client
// that treated an error body as data would be caught by the tests.
func writeStatus(w http.ResponseWriter, r *http.Request, status int) {
	text := fmt.Sprintf("%d - %s", status, http.StatusText(status))
	page := `<?xml version="1.0" encoding="iso-8859-1"?>` + "\n" +
		`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">` + "\n" +
		`<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">` + "\n" +
		" <head>\n  <title>" + text + "</title>\n </head>\n <body>\n  <h1>" + text + "</h1>\n </body>\n</html>\n"
	w.Header().Set("Content-Type", "text/html")
	writeBody(w, r, status, []byte(page))
}
