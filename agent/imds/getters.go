package imds

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// invalid reports a served value of the wrong shape.
func invalid(path, format string, args ...any) *Error {
	return &Error{Path: "meta-data/" + path, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)}
}

// getShaped fetches path and checks the body with valid.
func (c *Client) getShaped(ctx context.Context, path string, valid func(string) bool, want string) (string, error) {
	body, err := c.get(ctx, path)
	if err != nil {
		return "", err
	}
	v := string(body)
	if len(v) > 256 || !valid(v) {
		return "", invalid(path, "%s is not %s", quoted(v), want)
	}
	return v, nil
}

// InstanceID returns the instance id ("i-" and 8..32 lowercase hex).
func (c *Client) InstanceID(ctx context.Context) (string, error) {
	return c.getShaped(ctx, "instance-id", ValidInstanceID, "i- and 8..32 lowercase hex digits")
}

// Region returns placement/region, which must look like a region ("us-east-1").
func (c *Client) Region(ctx context.Context) (string, error) {
	return c.getShaped(ctx, "placement/region", validRegion, "a region name like us-east-1")
}

// Zone returns placement/availability-zone (lowercase letters, digits and dashes, at most 64).
// Whether it belongs to the region is the caller's check.
func (c *Client) Zone(ctx context.Context) (string, error) {
	return c.getShaped(ctx, "placement/availability-zone", validZone, "a zone name like us-east-1a")
}

// Domain returns services/domain (lowercase hostname characters, at most 253). It is not
// checked against the allow-list here: that is the caller's decision.
func (c *Client) Domain(ctx context.Context) (string, error) {
	return c.getShaped(ctx, "services/domain", validDomain, "a lowercase domain name")
}

// Keys returns the key bundle for user, or ErrNotFound itself when IMDS has none (404). A
// user name that SendSSHPublicKey would refuse is an ErrBadArgument, without a request.
func (c *Client) Keys(ctx context.Context, user string) ([]byte, error) {
	if !ValidUser(user) {
		return nil, fmt.Errorf("imds keys: %w: %s is not a user name EC2 Instance Connect can push keys for",
			ErrBadArgument, quoted(user))
	}
	body, err := c.get(ctx, "managed-ssh-keys/active-keys/"+user+"/")
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNotFound
	}
	return body, err
}

// SignerChain returns the signer-cert document (PEM, leaf first), unverified.
func (c *Client) SignerChain(ctx context.Context) ([]byte, error) {
	return c.get(ctx, "managed-ssh-keys/signer-cert/")
}

// StapleNames lists the staples IMDS offers (hex digests, at most MaxStaples). The names are
// only handles: staples are matched to certificates by their content, not by name.
func (c *Client) StapleNames(ctx context.Context) ([]string, error) {
	const path = "managed-ssh-keys/signer-ocsp/"
	body, err := c.get(ctx, path)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return nil, nil
	}
	names := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(names) > MaxStaples {
		return nil, invalid(path, "%d staples listed, at most %d expected", len(names), MaxStaples)
	}
	for _, n := range names {
		if !validStapleName(n) {
			return nil, invalid(path, "staple name %s is not 40..128 hex digits", quoted(n))
		}
	}
	return names, nil
}

// Staple returns one staple as IMDS serves it (base64 of a DER OCSP response), undecoded.
func (c *Client) Staple(ctx context.Context, name string) ([]byte, error) {
	if !validStapleName(name) {
		return nil, fmt.Errorf("imds staple: %w: name %s is not 40..128 hex digits", ErrBadArgument, quoted(name))
	}
	return c.get(ctx, "managed-ssh-keys/signer-ocsp/"+name)
}
