package imds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"

	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Sentinels that errors.Is finds in this package's errors.
var (
	ErrNotFound     = errors.New("not found")
	ErrTooLarge     = errors.New("response too large")
	ErrTokenRefused = errors.New("IMDSv2 token refused")
	ErrUnreachable  = errors.New("metadata service unreachable")
	// ErrInvalid marks a value IMDS served that does not have the expected shape.
	ErrInvalid = errors.New("invalid metadata")
	// ErrBadArgument marks a caller's path, user or staple name that cannot be asked for.
	ErrBadArgument = errors.New("invalid argument")
)

// tokenURLPath is where the SDK PUTs for a session token.
const tokenURLPath = "/latest/api/token"

// Error is a failed metadata request.
type Error struct {
	// Path is under /latest/: "meta-data/instance-id", or "api/token" when the token PUT failed.
	Path string
	// Status is the HTTP status of the failing answer; 0 when none came.
	Status int
	// Err is the cause (the SDK's error, a transport error, a context error, a size error).
	Err error

	method   string
	kind     error  // one of the sentinels, or nil
	endpoint string // for ErrUnreachable
	timeout  string // for ErrUnreachable by attempt timeout
}

func (e *Error) Error() string {
	method := e.method
	if method == "" {
		method = http.MethodGet
	}
	prefix := "imds " + method + " " + e.Path + ": "
	switch {
	case e.kind == ErrUnreachable:
		return fmt.Sprintf("imds: cannot reach %s: %s (is this an EC2 instance with the metadata service enabled?)",
			e.endpoint, e.reason())
	case e.kind == ErrTokenRefused:
		return fmt.Sprintf("%sHTTP %d: IMDSv2 session tokens are refused and eic-agent never falls back to IMDSv1 "+
			"(is the metadata endpoint enabled, and is no proxy adding X-Forwarded-For?)", prefix, e.Status)
	case e.Status == http.StatusUnauthorized:
		return fmt.Sprintf("%sHTTP 401: the metadata service rejected our session token", prefix)
	case e.Status == http.StatusTooManyRequests:
		return fmt.Sprintf("%sHTTP 429: the metadata service is throttling this instance "+
			"(other software may be flooding it; the eic-agent service cuts logins to one request)", prefix)
	case e.Status >= 500:
		return fmt.Sprintf("%sHTTP %d: the metadata service is failing; logins will work again once it answers", prefix, e.Status)
	case e.Status != 0:
		return fmt.Sprintf("%sHTTP %d", prefix, e.Status)
	case errors.Is(e.Err, context.DeadlineExceeded):
		return prefix + "no answer before the deadline: " + e.Err.Error()
	case e.Err != nil:
		return prefix + e.Err.Error()
	}
	return prefix + "failed"
}

// reason says in a few words why the endpoint could not be reached.
func (e *Error) reason() string {
	switch {
	case e.timeout != "":
		return "no answer within " + e.timeout
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(e.Err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(e.Err, syscall.EHOSTUNREACH):
		return "no route to host"
	}
	var op *net.OpError
	if errors.As(e.Err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return e.Err.Error()
}

// Unwrap exposes both the sentinel and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	var out []error
	if e.kind != nil {
		out = append(out, e.kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// classify turns the SDK's error for a GET of path into an *Error. It reads the status from
// the SDK's ResponseError when the SDK lets it through, and otherwise from what the transport
// saw: the SDK hides token failures behind an error without Unwrap.
func (c *Client) classify(ctx context.Context, path string, rec *recorder, err error) *Error {
	last, tooLarge := rec.snapshot()
	if tooLarge {
		e := &Error{Path: path, Err: &tooLargeError{max: c.cfg.MaxBodyBytes}}
		if last.path == tokenURLPath {
			e.method, e.Path = http.MethodPut, "api/token"
		}
		return e
	}
	status, statusPath := 0, ""
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Response != nil {
		status = re.HTTPStatusCode()
		if req := re.Response.Request; req != nil && req.URL != nil {
			statusPath = req.URL.Path
		}
	} else if last.err == nil && (last.status < 200 || last.status > 299) {
		status, statusPath = last.status, last.path
	}
	if status != 0 {
		if statusPath == tokenURLPath {
			e := &Error{method: http.MethodPut, Path: "api/token", Status: status, Err: err}
			if status == http.StatusUnauthorized || status == http.StatusForbidden {
				e.kind = ErrTokenRefused
			}
			return e
		}
		e := &Error{Path: path, Status: status, Err: err}
		if status == http.StatusNotFound {
			e.kind = ErrNotFound
		}
		return e
	}
	e := &Error{Path: path, Err: err}
	if last.path == tokenURLPath { // the call never got past the token
		e.method, e.Path = http.MethodPut, "api/token"
	}
	switch ctxErr := ctx.Err(); {
	case ctxErr != nil:
		e.Err = ctxErr
	case last.err != nil:
		e.Err, e.kind, e.endpoint = last.err, ErrUnreachable, c.cfg.Endpoint
		if isTimeout(last.err) {
			e.timeout = c.cfg.RequestTimeout.String()
		}
	}
	return e
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}
