// Package control drives a running emulator from outside: an HTTP+JSON control API (push a
// key, revoke or rotate the signer, set faults and the staples' certs form, read counters,
// fetch the test root), its
// client, and the eic-emulator command line built on both.
//
// Contract: the control API is served on its own listener, never on the IMDS one, so the code
// under test cannot reach it through its IMDS endpoint. Its own routes have no authentication:
// anyone who can connect can push keys that the emulator's root vouches for, so it listens on
// loopback by default. Only the AWS wire form of SendSSHPublicKey (POST /) authenticates, as
// the service does: SigV4 against the credentials it was started with, recomputed by the AWS
// SDK's signer. Requests are bounded (MaxBody), decoded strictly (unknown fields, trailing data and
// wrong types are 400 errors) and refused when they carry an Origin header, so a web page in a
// browser cannot drive it. Like the emulator, it is test and demo material.
package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

// Default addresses and limits.
const (
	// DefaultIMDSAddr is where real IMDS answers; serving there needs the address on an
	// interface (e.g. `ip addr add 169.254.169.254/32 dev lo`) and the right to bind port 80.
	DefaultIMDSAddr = "169.254.169.254:80"
	// DefaultControlAddr is the control API's default listener: loopback only.
	DefaultControlAddr = "127.0.0.1:8169"
	// MaxBody bounds every request body the control API reads.
	MaxBody = 64 << 10
	// maxAnswer bounds every answer the client reads.
	maxAnswer = 1 << 20
	// maxTTLSeconds bounds a push's TTL either way (a negative TTL pushes an expired key).
	maxTTLSeconds = 366 * 24 * 3600
)

// Endpoints of the control API.
const (
	PathPush         = "/push"          // POST PushRequest -> PushResponse
	PathRevokeSigner = "/revoke-signer" // POST -> SignerInfo of the revoked certificate
	PathRotateSigner = "/rotate-signer" // POST -> SignerInfo of the new certificate
	PathFaults       = "/faults"        // GET -> Faults; PUT Faults -> Faults; DELETE clears
	PathStapleCerts  = "/staple-certs"  // GET -> StapleCerts; PUT StapleCerts -> StapleCerts
	PathCounts       = "/counts"        // GET -> Counts; DELETE -> the Counts before zeroing
	PathRootCA       = "/root-ca"       // GET -> the test root certificate, PEM
)

// PushRequest is one SendSSHPublicKey call. Zero values take the emulator's defaults.
type PushRequest struct {
	InstanceID string `json:"instance_id,omitempty"`
	OSUser     string `json:"os_user"`
	// PublicKey is one OpenSSH public key line; surrounding white space is ignored.
	PublicKey string `json:"public_key"`
	// TTLSeconds is how long the key stays valid (0: the emulator's key TTL; negative: already
	// expired, for tests of expiry).
	TTLSeconds int64  `json:"ttl_seconds,omitempty"`
	Caller     string `json:"caller,omitempty"`
}

// PushResponse is the answer to a push.
type PushResponse struct {
	RequestID string `json:"request_id"`
	Success   bool   `json:"success"`
}

// SignerInfo names a signer certificate.
type SignerInfo struct {
	Subject  string    `json:"subject"`
	Serial   string    `json:"serial"` // uppercase hex
	SHA1     string    `json:"sha1"`   // uppercase hex SHA-1 of the DER: the staple's name
	NotAfter time.Time `json:"not_after"`
}

// Faults is emulator.Faults on the wire. Durations are strings ("250ms", "1m"), staple faults
// are names (emulator.StapleFaultNames, or "forged"), and zero fields are left out, so {} is
// a healthy IMDS.
type Faults struct {
	Latency            Duration             `json:"latency,omitempty"`
	Status             int                  `json:"status,omitempty"`
	Hang               bool                 `json:"hang,omitempty"`
	Reset              bool                 `json:"reset,omitempty"`
	SlowDrip           Duration             `json:"slow_drip,omitempty"`
	Oversize           bool                 `json:"oversize,omitempty"`
	Throttle           bool                 `json:"throttle,omitempty"`
	RevokeTokens       bool                 `json:"revoke_tokens,omitempty"`
	NoTokens           bool                 `json:"no_tokens,omitempty"`
	Region             string               `json:"region,omitempty"`
	Zone               string               `json:"zone,omitempty"`
	Domain             string               `json:"domain,omitempty"`
	ChainIncludesRoot  bool                 `json:"chain_includes_root,omitempty"`
	Chain              string               `json:"chain,omitempty"`
	SignerStaple       emulator.StapleFault `json:"signer_staple,omitempty"`
	IntermediateStaple emulator.StapleFault `json:"intermediate_staple,omitempty"`
	StapleNamesSHA256  bool                 `json:"staple_names_sha256,omitempty"`
	ThrottlePush       bool                 `json:"throttle_push,omitempty"`
}

// StapleCerts is what the certs field of every served staple carries, on the wire by name:
// {"certs": "issuer-chain"}. It is not a fault, so clearing faults leaves it alone.
type StapleCerts struct {
	Certs pki.Certs `json:"certs"`
}

// FaultsFrom converts the emulator's faults to their wire form.
func FaultsFrom(f emulator.Faults) Faults {
	return Faults{
		Latency: Duration(f.Latency), Status: f.Status, Hang: f.Hang, Reset: f.Reset,
		SlowDrip: Duration(f.SlowDrip), Oversize: f.Oversize, Throttle: f.Throttle,
		RevokeTokens: f.RevokeTokens, NoTokens: f.NoTokens,
		Region: f.Region, Zone: f.Zone, Domain: f.Domain,
		ChainIncludesRoot: f.ChainIncludesRoot, Chain: string(f.Chain),
		SignerStaple: f.SignerStaple, IntermediateStaple: f.IntermediateStaple,
		StapleNamesSHA256: f.StapleNames256, ThrottlePush: f.ThrottlePush,
	}
}

// Emulator validates f and converts it to the emulator's faults.
func (f Faults) Emulator() (emulator.Faults, error) {
	switch {
	case f.Latency < 0:
		return emulator.Faults{}, fmt.Errorf("faults: negative latency %v", time.Duration(f.Latency))
	case f.SlowDrip < 0:
		return emulator.Faults{}, fmt.Errorf("faults: negative slow_drip %v", time.Duration(f.SlowDrip))
	case f.Status != 0 && (f.Status < 200 || f.Status > 599):
		return emulator.Faults{}, fmt.Errorf("faults: status %d is not an HTTP status in 200..599 (0: none)", f.Status)
	}
	for _, s := range []emulator.StapleFault{f.SignerStaple, f.IntermediateStaple} {
		if _, err := s.MarshalText(); err != nil {
			return emulator.Faults{}, fmt.Errorf("faults: %w", err)
		}
	}
	out := emulator.Faults{
		Latency: time.Duration(f.Latency), Status: f.Status, Hang: f.Hang, Reset: f.Reset,
		SlowDrip: time.Duration(f.SlowDrip), Oversize: f.Oversize, Throttle: f.Throttle,
		RevokeTokens: f.RevokeTokens, NoTokens: f.NoTokens,
		Region: f.Region, Zone: f.Zone, Domain: f.Domain,
		ChainIncludesRoot: f.ChainIncludesRoot,
		SignerStaple:      f.SignerStaple, IntermediateStaple: f.IntermediateStaple,
		StapleNames256: f.StapleNamesSHA256, ThrottlePush: f.ThrottlePush,
	}
	if f.Chain != "" {
		out.Chain = []byte(f.Chain)
	}
	return out, nil
}

// Duration is a time.Duration written as Go writes it ("1.5s"). A bare JSON number is refused:
// its unit would be a guess.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: want a number with a unit, like 250ms or 2s", b)
	}
	*d = Duration(v)
	return nil
}

// Counts are the emulator's request counters. On the wire they are one flat object: each path
// (trailing slash removed) with its count, and "total".
type Counts struct {
	Paths map[string]int
	Total int
}

// MarshalJSON implements json.Marshaler.
func (c Counts) MarshalJSON() ([]byte, error) {
	m := make(map[string]int, len(c.Paths)+1)
	for k, v := range c.Paths {
		m[k] = v
	}
	m["total"] = c.Total // paths start with "/", so "total" cannot collide with one
	return json.Marshal(m)
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *Counts) UnmarshalJSON(b []byte) error {
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	total, ok := m["total"]
	if !ok {
		return errors.New("counts: no total")
	}
	delete(m, "total")
	*c = Counts{Paths: m, Total: total}
	return nil
}

// Error is an answer of the control API with a status other than 2xx.
type Error struct {
	Method, Path string
	Status       int
	Message      string // the server's "error" field, or the status text
}

func (e *Error) Error() string {
	return fmt.Sprintf("control API %s %s: %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// hexSerial writes a serial number the way OpenSSL shows it.
func hexSerial(n *big.Int) string { return fmt.Sprintf("%X", n) }
