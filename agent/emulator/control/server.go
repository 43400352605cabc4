package control

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

// HandlerConfig configures the control API. Zero values mean the documented defaults.
type HandlerConfig struct {
	// Logf, when not nil, receives one line for each change made through the API (push,
	// revoke, rotate, faults, staple certs form, counter reset).
	Logf func(format string, args ...any)
	// Credentials are what SendSSHPublicKey requests (POST /) must be signed with (SigV4,
	// service ec2-instance-connect, the emulator's region). Zero: POST / refuses every
	// request with AuthException; the control API's own routes never need them.
	Credentials Credentials
	// Now is the clock a request's X-Amz-Date is checked against; default the emulator's.
	Now func() time.Time
}

// NewHandlerWithFreshCredentials returns the control API for e, its AWS route checking
// signatures against a key pair made for this call and written to credentialsFile in the AWS
// shared-credentials format, for the CLI (AWS_SHARED_CREDENTIALS_FILE). Its signature fits
// testenv.Options.Control, which cannot import this package.
func NewHandlerWithFreshCredentials(e *emulator.Emulator, credentialsFile string) (http.Handler, error) {
	creds, err := NewCredentials()
	if err != nil {
		return nil, err
	}
	if err := creds.WriteFile(credentialsFile); err != nil {
		return nil, err
	}
	return NewHandler(e, HandlerConfig{Credentials: creds}), nil
}

// NewHandler returns the control API for e.
func NewHandler(e *emulator.Emulator, cfg HandlerConfig) http.Handler {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Now == nil {
		cfg.Now = e.Now
	}
	s := &server{emu: e, logf: cfg.Logf, creds: cfg.Credentials, now: cfg.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathPush, s.push)
	mux.HandleFunc("POST "+PathRevokeSigner, s.revokeSigner)
	mux.HandleFunc("POST "+PathRotateSigner, s.rotateSigner)
	mux.HandleFunc("GET "+PathFaults, s.getFaults)
	mux.HandleFunc("PUT "+PathFaults, s.putFaults)
	mux.HandleFunc("DELETE "+PathFaults, s.clearFaults)
	mux.HandleFunc("GET "+PathStapleCerts, s.getStapleCerts)
	mux.HandleFunc("PUT "+PathStapleCerts, s.putStapleCerts)
	mux.HandleFunc("GET "+PathCounts, s.getCounts)
	mux.HandleFunc("DELETE "+PathCounts, s.takeCounts)
	mux.HandleFunc("GET "+PathRootCA, s.rootCA)
	mux.HandleFunc("POST /{$}", s.sendSSHPublicKey)
	return guard(mux)
}

type server struct {
	emu   *emulator.Emulator
	logf  func(format string, args ...any)
	creds Credentials
	now   func() time.Time
	// signerMu makes revoke and rotate report the certificate they acted on, even when
	// several arrive at once.
	signerMu sync.Mutex
}

// guard refuses browsers and bounds every body. A page in a browser could otherwise POST to
// the loopback address and push its own key; browsers always send Origin with such requests,
// and tools such as curl or our client never do.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			fail(w, http.StatusForbidden, "requests from web pages (with an Origin header) are refused")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		next.ServeHTTP(w, r)
	})
}

func (s *server) push(w http.ResponseWriter, r *http.Request) {
	var req PushRequest
	if err := decode(r, "application/json", &req); err != nil {
		fail(w, err.status, err.msg)
		return
	}
	res, herr := s.doPush(req)
	if herr != nil {
		fail(w, herr.status, herr.msg)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// doPush is the push shared by the control API and the AWS wire form.
func (s *server) doPush(req PushRequest) (PushResponse, *httpError) {
	if req.TTLSeconds > maxTTLSeconds || req.TTLSeconds < -maxTTLSeconds {
		return PushResponse{}, &httpError{http.StatusBadRequest,
			fmt.Sprintf("ttl_seconds %d is out of range ±%d", req.TTLSeconds, maxTTLSeconds)}
	}
	p := emulator.Push{InstanceID: req.InstanceID, OSUser: req.OSUser,
		PublicKey: strings.TrimSpace(req.PublicKey), Caller: req.Caller,
		TTL: time.Duration(req.TTLSeconds) * time.Second}
	id, err := s.emu.Push(p)
	switch {
	case errors.Is(err, emulator.ErrInvalidArgs):
		return PushResponse{}, &httpError{http.StatusBadRequest, err.Error()}
	case err != nil:
		return PushResponse{}, &httpError{http.StatusInternalServerError, err.Error()}
	}
	s.logf("pushed a key for %s, request id %s", req.OSUser, id)
	return PushResponse{RequestID: id, Success: true}, nil
}

func (s *server) revokeSigner(w http.ResponseWriter, r *http.Request) {
	s.signerMu.Lock()
	defer s.signerMu.Unlock()
	cert := s.emu.PKI().Signer.Cert
	s.emu.RevokeSigner()
	info := signerInfo(cert)
	s.logf("revoked the signer certificate %s (serial %s)", info.SHA1, info.Serial)
	writeJSON(w, http.StatusOK, info)
}

func (s *server) rotateSigner(w http.ResponseWriter, r *http.Request) {
	s.signerMu.Lock()
	defer s.signerMu.Unlock()
	if err := s.emu.RotateSigner(); err != nil {
		fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	info := signerInfo(s.emu.PKI().Signer.Cert)
	s.logf("rotated the signer: new certificate %s (serial %s)", info.SHA1, info.Serial)
	writeJSON(w, http.StatusOK, info)
}

func signerInfo(c *x509.Certificate) SignerInfo {
	return SignerInfo{Subject: c.Subject.CommonName, Serial: hexSerial(c.SerialNumber),
		SHA1: pki.StapleName(c), NotAfter: c.NotAfter.UTC()}
}

func (s *server) getFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, FaultsFrom(s.emu.Faults()))
}

func (s *server) putFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := decode(r, "application/json", &f); err != nil {
		fail(w, err.status, err.msg)
		return
	}
	ef, err := f.Emulator()
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	s.emu.SetFaults(ef)
	out := FaultsFrom(s.emu.Faults())
	b, _ := json.Marshal(out)
	s.logf("faults set: %s", b)
	writeJSON(w, http.StatusOK, out)
}

func (s *server) clearFaults(w http.ResponseWriter, r *http.Request) {
	s.emu.SetFaults(emulator.Faults{})
	s.logf("faults cleared")
	writeJSON(w, http.StatusOK, Faults{})
}

func (s *server) getStapleCerts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, StapleCerts{Certs: s.emu.StapleCerts()})
}

func (s *server) putStapleCerts(w http.ResponseWriter, r *http.Request) {
	var c StapleCerts
	if err := decode(r, "application/json", &c); err != nil {
		fail(w, err.status, err.msg)
		return
	}
	if err := s.emu.SetStapleCerts(c.Certs); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	now := s.emu.StapleCerts()
	s.logf("staples now carry the certs form %s", now)
	writeJSON(w, http.StatusOK, StapleCerts{Certs: now})
}

func (s *server) getCounts(w http.ResponseWriter, r *http.Request) {
	paths := s.emu.Counts()
	total := 0 // every request bumps its path and the total together, so the sum is the total
	for _, n := range paths {
		total += n
	}
	writeJSON(w, http.StatusOK, Counts{Paths: paths, Total: total})
}

func (s *server) takeCounts(w http.ResponseWriter, r *http.Request) {
	paths, total := s.emu.TakeCounts()
	s.logf("counters reset at %d requests", total)
	writeJSON(w, http.StatusOK, Counts{Paths: paths, Total: total})
}

func (s *server) rootCA(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(s.emu.RootPEM())
}

type httpError struct {
	status int
	msg    string
}

// decode reads exactly one JSON value of the given media type into v, refusing unknown
// fields, trailing data and bodies over MaxBody.
func decode(r *http.Request, mediaType string, v any) *httpError {
	return decodeFrom(r, r.Body, mediaType, v)
}

// decodeBytes is decode for a body already read.
func decodeBytes(r *http.Request, body []byte, mediaType string, v any) *httpError {
	return decodeFrom(r, bytes.NewReader(body), mediaType, v)
}

func decodeFrom(r *http.Request, body io.Reader, mediaType string, v any) *httpError {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != mediaType {
		return &httpError{http.StatusUnsupportedMediaType,
			fmt.Sprintf("request body must be sent with Content-Type: %s", mediaType)}
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the JSON object")
			if terr != nil {
				err = terr
			}
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over %d KiB", MaxBody>>10)}
	case errors.Is(err, io.EOF):
		return &httpError{http.StatusBadRequest, "request body is empty, want a JSON object"}
	}
	return &httpError{http.StatusBadRequest, "request body: " + err.Error()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONAs(w, "application/json", status, v)
}

func writeJSONAs(w http.ResponseWriter, contentType string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode answer"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// fail answers {"error": msg}; the client turns it into an *Error.
func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
