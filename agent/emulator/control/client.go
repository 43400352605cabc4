package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

// Client calls the control API of a running emulator. Its zero value is not usable: set
// BaseURL. Answers over 1 MiB are refused.
type Client struct {
	// BaseURL is the API's root, e.g. "http://127.0.0.1:8169" (see BaseURL).
	BaseURL string
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
}

// BaseURL turns a listen address ("127.0.0.1:8169") into the URL a Client needs; a value that
// already is a URL is returned unchanged.
func BaseURL(addr string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	return "http://" + addr
}

// Push pushes a key, as SendSSHPublicKey does.
func (c *Client) Push(ctx context.Context, req PushRequest) (PushResponse, error) {
	var out PushResponse
	err := c.do(ctx, http.MethodPost, PathPush, req, &out)
	return out, err
}

// RevokeSigner makes the current signer's staple say revoked; it returns that certificate.
func (c *Client) RevokeSigner(ctx context.Context) (SignerInfo, error) {
	var out SignerInfo
	err := c.do(ctx, http.MethodPost, PathRevokeSigner, nil, &out)
	return out, err
}

// RotateSigner replaces the signer key and certificate; it returns the new certificate.
func (c *Client) RotateSigner(ctx context.Context) (SignerInfo, error) {
	var out SignerInfo
	err := c.do(ctx, http.MethodPost, PathRotateSigner, nil, &out)
	return out, err
}

// Faults returns the active faults.
func (c *Client) Faults(ctx context.Context) (Faults, error) {
	var out Faults
	err := c.do(ctx, http.MethodGet, PathFaults, nil, &out)
	return out, err
}

// SetFaults replaces the active faults with f and returns them as the emulator now has them.
func (c *Client) SetFaults(ctx context.Context, f Faults) (Faults, error) {
	var out Faults
	err := c.do(ctx, http.MethodPut, PathFaults, f, &out)
	return out, err
}

// ClearFaults makes the emulator a healthy IMDS again.
func (c *Client) ClearFaults(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, PathFaults, nil, &Faults{})
}

// StapleCerts returns the certs form of the staples served now.
func (c *Client) StapleCerts(ctx context.Context) (pki.Certs, error) {
	var out StapleCerts
	err := c.do(ctx, http.MethodGet, PathStapleCerts, nil, &out)
	return out.Certs, err
}

// SetStapleCerts makes every staple served from now on carry form in its certs field; it
// returns the form the emulator now serves.
func (c *Client) SetStapleCerts(ctx context.Context, form pki.Certs) (pki.Certs, error) {
	var out StapleCerts
	err := c.do(ctx, http.MethodPut, PathStapleCerts, StapleCerts{Certs: form}, &out)
	return out.Certs, err
}

// Counts returns the request counters.
func (c *Client) Counts(ctx context.Context) (Counts, error) {
	var out Counts
	err := c.do(ctx, http.MethodGet, PathCounts, nil, &out)
	return out, err
}

// ResetCounts zeroes the counters and returns what they held, in one step.
func (c *Client) ResetCounts(ctx context.Context) (Counts, error) {
	var out Counts
	err := c.do(ctx, http.MethodDelete, PathCounts, nil, &out)
	return out, err
}

// RootCA returns the emulator's test root certificate in PEM.
func (c *Client) RootCA(ctx context.Context) ([]byte, error) {
	var out []byte
	err := c.do(ctx, http.MethodGet, PathRootCA, nil, &out)
	return out, err
}

// do sends in (JSON, unless nil) and decodes a 2xx answer into out: *[]byte takes the raw
// body, anything else is JSON. Other statuses become an *Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if c.BaseURL == "" {
		return fmt.Errorf("control API %s %s: no BaseURL", method, path)
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("control API %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("control API %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		var uerr *url.Error // says the method and URL again: keep the cause only
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("control API %s %s: %w", method, req.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("control API %s %s: read answer: %w", method, path, err)
	}
	if len(data) > maxAnswer {
		return fmt.Errorf("control API %s %s: answer over %d bytes", method, path, maxAnswer)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Method: method, Path: path, Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
		var m struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &m) == nil && m.Error != "" {
			e.Message = m.Error
		}
		return e
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("control API %s %s: decode answer: %w", method, path, err)
	}
	return nil
}
