// Package imds is eic-agent's IMDSv2 client, built on the AWS SDK's feature/ec2/imds.
//
// Contract: it talks only to the endpoint it is given (never one from the environment, never
// through a proxy), always with an IMDSv2 session token and never falling back to IMDSv1, with
// a timeout on every attempt, a bounded number of attempts and bodies capped (larger is an
// error, not a truncation). Typed getters check the shape of what they return, so callers
// never build names from junk. It trusts IMDS for availability only: everything security
// relevant it returns (bundles, chain, staples) is verified by other packages.
//
// A *Client is safe for concurrent use and keeps its token and connections between calls.
package imds

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	sdkimds "github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/aws/smithy-go/logging"
	"github.com/eic-agent/eic-agent/agent/signer"
)

// Endpoints and defaults.
const (
	DefaultEndpoint       = "http://169.254.169.254"
	IPv6Endpoint          = "http://[fd00:ec2::254]"
	DefaultRequestTimeout = time.Second
	DefaultAttempts       = 2
	DefaultMaxBodyBytes   = 1 << 20
	// MaxStaples bounds the staple list: signer.Verify refuses more anyway.
	MaxStaples = signer.MaxStaples
)

// Config configures a Client. Zero values mean the defaults.
type Config struct {
	// Endpoint is the base URL (default DefaultEndpoint; IPv6-only instances use IPv6Endpoint).
	Endpoint string
	// RequestTimeout bounds each attempt, connect to last body byte (default 1s).
	RequestTimeout time.Duration
	// Attempts is how many times a failing request is tried (default 2).
	Attempts int
	// MaxBodyBytes caps every response body (default 1 MiB).
	MaxBodyBytes int64
}

// Client reads instance metadata. Each method takes the caller's context, whose deadline
// bounds the whole call; RequestTimeout bounds each attempt within it.
type Client struct {
	cfg Config
	sdk *sdkimds.Client
	err error // a bad Config, reported by every call
}

// New makes a client. A malformed Endpoint is reported by every call, not here, so that a
// constructor used in a main stays infallible.
func New(cfg Config) *Client {
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	c := &Client{cfg: cfg}
	if err := checkEndpoint(cfg.Endpoint); err != nil {
		c.err = err
		return c
	}
	retryer := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = cfg.Attempts
		o.Backoff = retry.BackoffDelayerFunc(backoff)
		// A shared retry quota would let one bad minute disable retries for later logins of
		// a long-running service; Attempts and the caller's deadline already bound the work.
		o.RateLimiter = ratelimit.None
	})
	c.sdk = sdkimds.New(sdkimds.Options{
		Endpoint:          cfg.Endpoint,
		ClientEnableState: sdkimds.ClientEnabled, // ignore AWS_EC2_METADATA_DISABLED
		EnableFallback:    aws.FalseTernary,      // never IMDSv1
		Retryer:           retryer,
		// The SDK's defaults are a 5s operation timeout and a fixed 1s retry delay; we
		// time each attempt ourselves and back off briefly.
		DisableDefaultTimeout:    true,
		DisableDefaultMaxBackoff: true,
		HTTPClient:               newHTTPClient(cfg.RequestTimeout, cfg.MaxBodyBytes),
		Logger:                   logging.Nop{}, // library code never prints
	})
	return c
}

// backoff waits 20ms, then 40ms, capped at 100ms: IMDS is local, so a longer wait only eats
// the login's budget.
func backoff(attempt int, _ error) (time.Duration, error) {
	d := 20 * time.Millisecond << min(max(attempt-1, 0), 3)
	return min(d, 100*time.Millisecond), nil
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("imds: invalid endpoint %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("imds: invalid endpoint %q: want http://HOST[:PORT]", s)
	}
	return nil
}

// Endpoint returns the base URL the client talks to.
func (c *Client) Endpoint() string { return c.cfg.Endpoint }

// Get returns the body at meta-data/PATH. A trailing slash is sent as given. A 404 is an
// *Error that matches ErrNotFound.
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	if len(path) > 512 || !validMetaPath(path) || strings.Contains(path, "..") {
		return nil, fmt.Errorf("imds GET: %w: malformed path %s", ErrBadArgument, quoted(path))
	}
	return c.get(ctx, path)
}

func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	return c.getRecorded(ctx, path, &recorder{})
}

// getRecorded is get with the caller's recorder, which holds the last exchange afterwards.
func (c *Client) getRecorded(ctx context.Context, path string, rec *recorder) ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	out, err := c.sdk.GetMetadata(withRecorder(ctx, rec), &sdkimds.GetMetadataInput{Path: path})
	if err != nil {
		return nil, c.classify(ctx, "meta-data/"+path, rec, err)
	}
	defer out.Content.Close()
	// The SDK has already read the body through our cap; this copies from memory.
	body, err := io.ReadAll(io.LimitReader(out.Content, c.cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, &Error{Path: "meta-data/" + path, Err: err}
	}
	if int64(len(body)) > c.cfg.MaxBodyBytes {
		return nil, &Error{Path: "meta-data/" + path, Err: &tooLargeError{max: c.cfg.MaxBodyBytes}}
	}
	return body, nil
}

// quoted shows an untrusted string in an error: quoted, and cut so it cannot flood a log.
func quoted(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q...", s[:64])
	}
	return fmt.Sprintf("%q", s)
}
