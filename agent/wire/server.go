package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Server defaults.
const (
	DefaultServerTimeout = 5 * time.Second
	DefaultMaxConcurrent = 64
)

// Handler answers one validated request. ctx ends at the connection's deadline.
type Handler func(ctx context.Context, req Request) Response

// ServerOptions configures Serve. Zero values mean the documented defaults.
type ServerOptions struct {
	// AllowedUIDs may connect besides root (the AuthorizedKeysCommandUser). Any other peer is
	// disconnected without an answer.
	AllowedUIDs []uint32
	// Timeout bounds each connection: reading the request, the handler and writing the answer.
	// Default DefaultServerTimeout.
	Timeout time.Duration
	// MaxConcurrent bounds the connections handled at once; more get an immediate "busy"
	// answer. Default DefaultMaxConcurrent.
	MaxConcurrent int
	// Log receives refused peers, bad requests and handler panics. Nil: no logging.
	Log *zap.Logger
}

type server struct {
	h       Handler
	allowed []uint32
	timeout time.Duration
	log     *zap.Logger
}

// Serve answers requests on ln with h until ctx is done or ln is closed, then waits for the
// connections in flight and returns nil. When ctx is done Serve closes ln; requests already
// being handled still run to their deadline, so logins in progress get their answer.
func Serve(ctx context.Context, ln *net.UnixListener, h Handler, o ServerOptions) error {
	s := &server{h: h, allowed: o.AllowedUIDs, timeout: o.Timeout, log: o.Log}
	if s.timeout <= 0 {
		s.timeout = DefaultServerTimeout
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	maxConns := o.MaxConcurrent
	if maxConns <= 0 {
		maxConns = DefaultMaxConcurrent
	}
	slots := make(chan struct{}, maxConns)
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()

	var backoff time.Duration
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !transientAcceptError(err) {
				return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
			}
			// Out of descriptors or memory: wait for connections to finish rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("eic-agent socket accept failed; retrying", zap.Duration("backoff", backoff), zap.Error(err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if !s.admit(conn) {
			continue
		}
		select {
		case slots <- struct{}{}:
			wg.Go(func() {
				defer func() { <-slots }()
				s.serveConn(ctx, conn)
			})
		default:
			s.answerAndClose(conn, Refusal("", "busy: eic-agent is handling %d requests; verify directly", maxConns))
		}
	}
}

func transientAcceptError(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// admit checks the peer's uid, closing the connection without a word when it may not ask:
// an answer would tell a stranger who has keys.
func (s *server) admit(conn *net.UnixConn) bool {
	uid, err := peerUID(conn)
	if err != nil {
		s.log.Warn("eic-agent refused a connection: cannot read its peer credentials", zap.Error(err))
		_ = conn.Close()
		return false
	}
	if uid != 0 && !slices.Contains(s.allowed, uid) {
		s.log.Warn("eic-agent refused a connection from a uid that may not query it; only root and the AuthorizedKeysCommandUser may",
			zap.Uint32("uid", uid))
		_ = conn.Close()
		return false
	}
	return true
}

func (s *server) serveConn(ctx context.Context, conn *net.UnixConn) {
	deadline := time.Now().Add(s.timeout)
	_ = conn.SetDeadline(deadline)
	line, err := readRequest(conn)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.log.Debug("eic-agent closed a connection that sent no request in time", zap.Duration("timeout", s.timeout))
		_ = conn.Close()
		return
	case errors.Is(err, io.EOF):
		_ = conn.Close()
		return
	case err != nil:
		s.log.Debug("eic-agent got a bad request", zap.Error(err))
		s.answerAndClose(conn, Refusal("", "%v", err))
		return
	}
	req, err := DecodeRequest(line)
	if err != nil {
		s.log.Debug("eic-agent got a bad request", zap.Error(err))
		s.answerAndClose(conn, Refusal("", "%v", err))
		return
	}
	// The handler outlives a stop of the server (WithoutCancel) but never the connection.
	hctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	resp := s.call(hctx, req)
	resp.V = Version
	if resp.User == "" {
		resp.User = req.User
	}
	s.answerAndClose(conn, resp)
}

// call runs the handler, turning a panic into an answer without a verdict so that one bad
// request never takes the service down.
func (s *server) call(ctx context.Context, req Request) (resp Response) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("eic-agent request handler panicked; answered with an error",
				zap.String("user", req.User), zap.Any("panic", p), zap.StackSkip("stack", 1))
			resp = Refusal(req.User, "internal error in eic-agent; verify directly")
		}
	}()
	return s.h(ctx, req)
}

func (s *server) answerAndClose(conn *net.UnixConn, resp Response) {
	defer conn.Close()
	data, err := encodeResponse(resp)
	if err == nil && len(data) > MaxResponse {
		err = fmt.Errorf("%d bytes, more than %d", len(data), MaxResponse)
	}
	if err != nil {
		s.log.Error("eic-agent cannot encode its answer; answered with an error", zap.String("user", resp.User), zap.Error(err))
		data, _ = json.Marshal(Refusal(resp.User, "eic-agent cannot encode its answer; verify directly"))
	}
	// A connection refused as busy has no deadline yet; its answer fits any socket buffer, so
	// this bounds only a pathological peer.
	_ = conn.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := conn.Write(data); err != nil {
		s.log.Debug("eic-agent could not send its answer", zap.Error(err))
	}
}

// encodeResponse is json.Marshal without HTML escaping, which would make every '<', '>' and
// '&' in a claim six bytes: MaxResponse counts on printable text at most doubling.
func encodeResponse(resp Response) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// readRequest reads one request line of at most MaxRequest bytes. It returns io.EOF for a peer
// that closed without sending anything.
func readRequest(r io.Reader) ([]byte, error) {
	buf := make([]byte, MaxRequest+1)
	n := 0
	for {
		m, err := r.Read(buf[n:])
		if i := bytes.IndexByte(buf[n:n+m], '\n'); i >= 0 {
			end := n + i + 1
			if end != n+m {
				return nil, errors.New("data after the request line; send one request per connection")
			}
			return buf[:end], nil
		}
		n += m
		if n > MaxRequest {
			return nil, fmt.Errorf("request larger than %d bytes", MaxRequest)
		}
		switch {
		case errors.Is(err, io.EOF) && n == 0:
			return nil, io.EOF
		case errors.Is(err, io.EOF):
			return nil, errors.New("request is not newline-terminated")
		case err != nil:
			return nil, err
		}
	}
}
