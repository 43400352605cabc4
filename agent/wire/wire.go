// Package wire is the protocol between eic-authorized-keys and the warm eic-agent service: one
// request and one answer per unix-socket connection, both bounded in size and time.
//
// Protocol v2. The client sends one JSON line, {"v":2,"user":"...","fingerprint":"..."}, of at
// most MaxRequest bytes including its newline. The server answers with one JSON document of at
// most MaxResponse bytes (Response) and closes the connection. Its verdict is one of three:
// decided (the login ran to an outcome: the keys in it are the answer), failed (the verification
// ran and could not complete: the helper fails exactly as it would in direct mode), or none (a
// bad request, an unknown version, busy, an internal error, going away: the helper verifies
// directly).
//
// Contract: neither end believes what it reads. The server answers only root and the UIDs it is
// given (SO_PEERCRED), decodes strictly and validates the user and fingerprint before its handler
// sees them, and turns a handler panic into an error answer. The client talks only to a server
// running as root or a trusted UID (never 65534, nobody), through a socket directory only root or
// that UID can write (see dial), and refuses a whole answer when any part of it is out of shape:
// a key line that is not a plain public key in canonical "TYPE BASE64" form, a fingerprint that
// does not match its key or the one asked about, an answer about another user, more about
// rejected blocks than the bounds of bound.go. The peer and directory checks are what make the
// service a trusted party; the shape checks keep a confused one from ever putting options or
// extra lines in front of sshd.
//
// The helper links this package on every login, so it imports only the standard library,
// x/sys/unix, zap and the lookup and keys types: never agent/service, fsnotify or go-systemd.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
)

// Protocol limits.
const (
	// Version is the protocol version this package speaks. 2: the verdict is one named field
	// instead of an error string and a flag.
	Version = 2
	// MaxRequest bounds a request line, newline included.
	MaxRequest = 4 << 10
	// MaxResponse bounds an answer. Accepted keys are never left out of one, so it has room for
	// every key of the largest bundle a configuration allows (imds.max_response_bytes, at most
	// 8 MiB) as JSON, whose escaping at most doubles the printable text a signed block holds;
	// what it says about rejected blocks is bounded on its own (MaxRejectedItems).
	MaxResponse = 16 << 20
)

var (
	// ErrNoVerdict marks every way of not getting a usable verdict from the service: the socket
	// could not be reached or trusted, the exchange broke, the answer is out of shape
	// (ErrInvalidResponse) or carries no verdict (ErrRefused). The helper verifies directly.
	ErrNoVerdict = errors.New("no verdict from eic-agent service")
	// ErrInvalidResponse marks an answer that is out of shape; nothing in it may be used.
	ErrInvalidResponse = fmt.Errorf("%w: invalid answer", ErrNoVerdict)
	// ErrRefused marks an answer whose verdict is none.
	ErrRefused = fmt.Errorf("%w: the service refused the request", ErrNoVerdict)
)

// Verdict says what kind of answer a Response is.
type Verdict int

// The verdicts, named on the wire by their String.
const (
	// VerdictNone: the service gives no verdict (Error says why); verify directly.
	VerdictNone Verdict = iota
	// VerdictDecided: the login ran to its Outcome; Accepted is the answer.
	VerdictDecided
	// VerdictFailed: the verification ran and could not complete (Error says why).
	VerdictFailed
)

var verdictNames = [...]string{"none", "decided", "failed"}

func (v Verdict) String() string {
	if v >= 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// MarshalText writes the verdict's name; an unknown verdict is an error, so none is ever sent.
func (v Verdict) MarshalText() ([]byte, error) {
	if v < 0 || int(v) >= len(verdictNames) {
		return nil, fmt.Errorf("unknown verdict %d", int(v))
	}
	return []byte(verdictNames[v]), nil
}

// UnmarshalText reads a verdict's name; anything else is an error.
func (v *Verdict) UnmarshalText(b []byte) error {
	for i, n := range verdictNames {
		if n == string(b) {
			*v = Verdict(i)
			return nil
		}
	}
	return fmt.Errorf("unknown verdict %.64q", b)
}

// Request asks for the keys of User, restricted to the key with Fingerprint when it is set.
type Request struct {
	User string
	// Fingerprint is "" or a fingerprint as sshd passes it for %f (SHA256:... or MD5:...).
	Fingerprint string
}

// Validate checks the request as the server will: a user name that could receive EC2 Instance
// Connect keys and, when set, a well-formed fingerprint.
func (r Request) Validate() error {
	if err := lookup.ValidateUser(r.User); err != nil {
		return err
	}
	if r.Fingerprint != "" {
		if _, err := keys.ParseFingerprint(r.Fingerprint); err != nil {
			return err
		}
	}
	return nil
}

// requestJSON is the request's wire form. V is a pointer so that a missing version is told
// apart from a zero one.
type requestJSON struct {
	V           *int   `json:"v"`
	User        string `json:"user"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Response is the answer to one Request.
type Response struct {
	V       int     `json:"v"`
	Verdict Verdict `json:"verdict"`
	// User is the user the answer is about; the client refuses an answer about anyone else.
	User string `json:"user,omitempty"`
	// Outcome is how far the login went (decided and failed answers).
	Outcome lookup.Outcome `json:"outcome"`
	Detail  string         `json:"detail,omitempty"`
	// Error says why a failed answer failed, or why there is no verdict.
	Error    string        `json:"error,omitempty"`
	Accepted []AcceptedKey `json:"accepted,omitempty"`
	// Rejected itemises the first MaxRejectedItems rejected blocks; RejectedMore counts the
	// others per reason.
	Rejected     []RejectedBlock `json:"rejected,omitempty"`
	RejectedMore map[string]int  `json:"rejected_more,omitempty"`
	// Status is the service's own state when it answered, for diagnosis (eic-agent doctor);
	// nothing in a login depends on it.
	Status *Status `json:"status,omitempty"`
}

// Status says how fresh the service's signer was when it answered, in Unix seconds of the
// service's clock (0: none cached).
type Status struct {
	// SignerVerified is when the cached signer chain and staples were last verified in full.
	SignerVerified int64 `json:"signer_verified,omitempty"`
	// StaplesRead is when the staples were last read from IMDS successfully (the revocation
	// check): no key is granted once this is older than service.revocation_check.
	StaplesRead int64 `json:"staples_read,omitempty"`
}

// AcceptedKey is keys.Accepted on the wire, Expires in Unix seconds.
type AcceptedKey struct {
	Line        string `json:"line"`
	Fingerprint string `json:"fingerprint"`
	Caller      string `json:"caller,omitempty"`
	RequestID   string `json:"request_id,omitempty"`
	InstanceID  string `json:"instance_id"`
	Expires     int64  `json:"expires"`
	Block       int    `json:"block"`
}

// RejectedBlock is keys.Rejected on the wire, its text fields cut to MaxRejectedField bytes.
type RejectedBlock struct {
	Block       int    `json:"block"`
	Reason      string `json:"reason"`
	Detail      string `json:"detail,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Caller      string `json:"caller,omitempty"`
	RequestID   string `json:"request_id,omitempty"`
}

// Refusal is an answer without a verdict about user ("" when the request was not understood).
func Refusal(user, format string, args ...any) Response {
	return Response{V: Version, Verdict: VerdictNone, User: user, Error: fmt.Sprintf(format, args...)}
}

// EncodeRequest returns the request line for r, newline included. It refuses a request the
// server would refuse.
func EncodeRequest(r Request) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	v := Version
	b, err := json.Marshal(requestJSON{V: &v, User: r.User, Fingerprint: r.Fingerprint})
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	b = append(b, '\n')
	if len(b) > MaxRequest {
		return nil, fmt.Errorf("request: %d bytes, more than %d", len(b), MaxRequest)
	}
	return b, nil
}

// DecodeRequest parses and validates one request line: exactly one JSON object with the known
// fields only, version 2, ending in the line's only newline, at most MaxRequest bytes.
func DecodeRequest(line []byte) (Request, error) {
	if len(line) > MaxRequest {
		return Request{}, fmt.Errorf("request larger than %d bytes", MaxRequest)
	}
	if i := bytes.IndexByte(line, '\n'); len(line) == 0 || i != len(line)-1 {
		return Request{}, errors.New("request is not one newline-terminated line")
	}
	var rj requestJSON
	if err := decodeStrict(line[:len(line)-1], &rj); err != nil {
		return Request{}, fmt.Errorf("request: %w", err)
	}
	if rj.V == nil {
		return Request{}, errors.New("request has no protocol version (\"v\")")
	}
	if *rj.V != Version {
		return Request{}, fmt.Errorf("request has protocol version %d; this service speaks %d", *rj.V, Version)
	}
	req := Request{User: rj.User, Fingerprint: rj.Fingerprint}
	if err := req.Validate(); err != nil {
		return Request{}, fmt.Errorf("request: %w", err)
	}
	return req, nil
}

// DecodeResponse parses one answer strictly: one JSON object with the known fields only,
// version 2, at most MaxResponse bytes. Its content is checked by Response.Result.
func DecodeResponse(data []byte) (Response, error) {
	if len(data) > MaxResponse {
		return Response{}, fmt.Errorf("%w: larger than %d bytes", ErrInvalidResponse, MaxResponse)
	}
	var r Response
	if err := decodeStrict(data, &r); err != nil {
		return Response{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	if r.V != Version {
		return Response{}, fmt.Errorf("%w: protocol version %d, want %d", ErrInvalidResponse, r.V, Version)
	}
	return r, nil
}

// decodeStrict decodes exactly one JSON object with no unknown fields and nothing after it.
func decodeStrict(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 || bytes.TrimSpace(data)[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}
