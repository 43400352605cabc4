package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/lookup"
)

// Client defaults.
const (
	DefaultConnectTimeout = config.DefaultServiceConnectTimeout
	DefaultTimeout        = 5 * time.Second
)

// ClientOptions configures Query. Zero values mean the documented defaults.
type ClientOptions struct {
	// ConnectTimeout bounds reaching the socket. Default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Timeout bounds the whole exchange, within ctx's own deadline. Default DefaultTimeout.
	Timeout time.Duration
	// TrustedUIDs may run the service besides root (the service account). Uid 65534 (nobody)
	// is never trusted.
	TrustedUIDs []uint32
	// TrustedUser names one more account that may run the service (ServiceUID). It is resolved
	// only when the socket's directory or server belongs to neither root nor a TrustedUIDs uid,
	// so a login that finds no service reads no account database.
	TrustedUser string
}

// Ask asks the service at path for req's keys. An error that wraps ErrNoVerdict means there is
// nothing to use: the socket could not be reached, its directory could let someone else bind it
// (see dial), the server runs as an untrusted uid, the exchange broke or timed out, the answer
// is out of shape (ErrInvalidResponse) or carries no verdict (ErrRefused). Otherwise the answer
// is well formed and about req, and the result and error are the login's own: a non-nil error
// then means the service's verification could not complete, as it would fail in direct mode.
func Ask(ctx context.Context, path string, req Request, o ClientOptions) (lookup.Result, error) {
	res, _, err := AskWithStatus(ctx, path, req, o)
	return res, err
}

// AskWithStatus is Ask that also returns the service's Status from a well-formed answer (zero
// when the answer carried none or there was no usable answer).
func AskWithStatus(ctx context.Context, path string, req Request, o ClientOptions) (lookup.Result, Status, error) {
	resp, err := roundTrip(ctx, path, req, o)
	var res lookup.Result
	if err == nil {
		res, err = resp.answers(req)
		if !errors.Is(err, ErrNoVerdict) {
			var st Status
			if resp.Status != nil {
				st = *resp.Status
			}
			return res, st, err // the login's own verdict
		}
	}
	if errors.Is(err, ErrNoVerdict) {
		return lookup.Result{}, Status{}, fmt.Errorf("service socket %s: %w", path, err)
	}
	return lookup.Result{}, Status{}, fmt.Errorf("%w: service socket %s: %w", ErrNoVerdict, path, err)
}

// roundTrip sends req to a trusted server at path and returns its decoded answer.
func roundTrip(ctx context.Context, path string, req Request, o ClientOptions) (Response, error) {
	line, err := EncodeRequest(req)
	if err != nil {
		return Response{}, err
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	t := &trust{uids: o.TrustedUIDs, user: o.TrustedUser}
	conn, err := dial(ctx, path, o.ConnectTimeout, t)
	if err != nil {
		return Response{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancellation (not only the deadline) must unblock the exchange.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	// The directory check keeps others from binding a socket there; the kernel's word on the
	// server's uid is what tells the service from an impostor that got there anyway.
	uid, err := peerUID(conn)
	if err != nil {
		return Response{}, err
	}
	if !t.allows(uid) {
		return Response{}, fmt.Errorf("service socket %s is served by uid %d, not %s; refusing it", path, uid, t.names())
	}

	_, writeErr := conn.Write(line)
	data, err := readResponse(conn)
	if err != nil || (writeErr != nil && len(data) == 0) {
		// A server that answered before reading (busy) may have closed before our write: its
		// answer, when one came, is what counts.
		return Response{}, errors.Join(writeErr, err)
	}
	return DecodeResponse(data)
}

// readResponse reads the answer up to the server's close, at most MaxResponse bytes.
func readResponse(r io.Reader) ([]byte, error) {
	var buf []byte
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if len(buf) > MaxResponse {
			return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidResponse, MaxResponse)
		}
		switch {
		case errors.Is(err, io.EOF):
			return buf, nil
		case errors.Is(err, syscall.ECONNRESET) && len(buf) > 0:
			// Linux resets the connection when the server closes with our request unread (a
			// busy answer). What arrived before is complete or fails to decode: JSON says
			// where it ends.
			return buf, nil
		case err != nil:
			return nil, fmt.Errorf("read answer: %w", err)
		}
	}
}
