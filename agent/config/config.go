// Package config reads eic-agent's TOML configuration file into one struct.
//
// Contract: Parse and Load start from Default, so a key that is absent keeps
// its documented default and an empty file is a valid configuration. Parsing is
// strict: an unknown key, a value of the wrong type or a value out of its
// documented range is an error, never silently ignored, because a typo in a
// security setting (say "trust.ca") must not quietly fall back to a default.
// Nothing here reads environment variables: sshd empties the environment of
// the helper, so configuration comes only from flags and this file.
//
// Every key is documented in docs/config.md; keep that file, the commented
// example packaging/config.toml and Default in step.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/eic-agent/eic-agent/agent/imds"
	"github.com/eic-agent/eic-agent/agent/platform"

	"github.com/BurntSushi/toml"

	"github.com/eic-agent/eic-agent/agent/localfile"
)

// DefaultPath is where the helper and the service look when no -config flag is
// given.
const DefaultPath = "/etc/eic-agent/config.toml"

// MaxFileSize bounds how much of a config file Load reads; a larger file is an
// error rather than a partial read.
const MaxFileSize = 1 << 20

// Config is the whole configuration file. New tables (such as a later
// [service] table) are added as new fields with their own toml tag; Parse's
// unknown-key check then accepts them with no other change.
type Config struct {
	// Deadline bounds one whole helper run (every IMDS request, getent and
	// verification). Default 5s, allowed 100ms..10s.
	Deadline Duration `toml:"deadline"`
	IMDS     IMDS     `toml:"imds"`
	Trust    Trust    `toml:"trust"`
	Platform Platform `toml:"platform"`
	Users    Users    `toml:"users"`
	Log      Log      `toml:"log"`
	Service  Service  `toml:"service"`
	Chain    Chain    `toml:"chain"`
}

// IMDS is the [imds] table: how to reach the instance metadata service.
type IMDS struct {
	// Endpoint overrides the base URL ("http://host[:port]", no path). Empty
	// means the address of EndpointMode.
	Endpoint string `toml:"endpoint"`
	// EndpointMode is "ipv4" (default, http://169.254.169.254) or "ipv6"
	// (http://[fd00:ec2::254]).
	EndpointMode string `toml:"endpoint_mode"`
	// RequestTimeout bounds each request. Default 1s, allowed 50ms..5s.
	RequestTimeout Duration `toml:"request_timeout"`
	// Attempts is how many times a request is tried. Default 2, allowed 1..5.
	Attempts int `toml:"attempts"`
	// MaxResponseBytes caps each response body. Default 1 MiB, allowed
	// 4 KiB..8 MiB.
	MaxResponseBytes int64 `toml:"max_response_bytes"`
}

// Trust is the [trust] table: what the signer certificate must chain to and
// which IMDS service domains are acceptable.
type Trust struct {
	// CA is a PEM bundle file or a directory of PEM files; empty means the
	// system trust store.
	CA string `toml:"ca"`
	// ExtraDomains are accepted in addition to the built-in allow-list.
	ExtraDomains []string `toml:"extra_domains"`
}

// Platform is the [platform] table.
type Platform struct {
	// SysfsRoot is where "am I on EC2?" looks. Default "/sys".
	SysfsRoot string `toml:"sysfs_root"`
}

// Users is the [users] table.
type Users struct {
	// Getent is the getent binary used to ask NSS whether a user exists.
	// Empty means /usr/bin/getent or /bin/getent; "none" disables the check.
	Getent string `toml:"getent"`
}

// Log is the [log] table.
type Log struct {
	// Target is auto (default), journald, syslog or stderr.
	Target string `toml:"target"`
	// Level is debug, info (default), warn or error.
	Level string `toml:"level"`
}

// Service configures the warm eic-agent service and how the helper reaches it.
type Service struct {
	// Enabled makes the helper ask the service first (it falls back to direct verification on
	// any failure to reach it).
	Enabled bool `toml:"enabled"`
	// Socket is the unix socket the service answers on.
	Socket string `toml:"socket"`
	// User is the account the service runs as and the AuthorizedKeysCommandUser: only it and
	// root may query the service, and the helper only trusts a server running as it or root.
	User string `toml:"user"`
	// ConnectTimeout bounds the helper's attempt to reach the service before falling back.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// SignerMaxAge forces a re-verification of the cached signer at least this often.
	SignerMaxAge Duration `toml:"signer_max_age"`
	// RevocationCheck is how often the service re-reads the OCSP staples while it holds a
	// signer, and how long a login may be granted after the last successful read: a revoked
	// signer stops every grant within it. Default 60s (a pushed key's lifetime), allowed 10s..5m.
	RevocationCheck Duration `toml:"revocation_check"`
	// KeyMemory is how long verified keys are remembered per user, so the signed attempt that
	// follows sshd's query costs no IMDS request.
	KeyMemory Duration `toml:"key_memory"`
}

// Chain is the [chain] table: another AuthorizedKeysCommand the helper runs alongside its own
// lookup, printing that command's keys after the EC2 Instance Connect ones (docs/chaining.md).
type Chain struct {
	// Command is the argv template: an absolute path, then arguments that may use %u, %f, %t,
	// %k and %%. Empty: nothing is chained.
	Command []string `toml:"command"`
	// Timeout bounds each run; with a command set it must leave the helper ChainReserve of
	// its deadline. Default 2s.
	Timeout Duration `toml:"timeout"`
	// MaxOutputBytes is how much of its stdout is read; the rest is discarded and logged.
	// Default 64 KiB, allowed 1 KiB..1 MiB.
	MaxOutputBytes int64 `toml:"max_output_bytes"`
}

// ChainReserve is the part of the helper's deadline a chained command's timeout may not take:
// the time to kill it with everything it started, collect it and print every key.
const ChainReserve = 100 * time.Millisecond

// Duration is a time.Duration written in TOML as a Go duration string
// ("5s", "250ms"). A bare number is rejected: its unit would be a guess.
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("duration %q: want a number with a unit such as \"5s\" or \"250ms\"", text)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler so a Config can be written back.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// DefaultServiceConnectTimeout is how long the helper tries to reach the service's socket
// before it verifies directly (service.connect_timeout); agent/wire defaults to it too.
const DefaultServiceConnectTimeout = 200 * time.Millisecond

// Default returns the configuration used when the file or a key is absent. Where a package
// owns a default (imds, platform), this refers to it rather than restating it.
func Default() Config {
	return Config{
		Deadline: Duration{5 * time.Second},
		IMDS: IMDS{
			EndpointMode:     "ipv4",
			RequestTimeout:   Duration{imds.DefaultRequestTimeout},
			Attempts:         imds.DefaultAttempts,
			MaxResponseBytes: imds.DefaultMaxBodyBytes,
		},
		Platform: Platform{SysfsRoot: platform.DefaultSysfsRoot},
		Log:      Log{Target: "auto", Level: "info"},
		Service: Service{
			Enabled:         true,
			Socket:          "/run/eic-agent/agent.sock",
			User:            "ec2-instance-connect",
			ConnectTimeout:  Duration{DefaultServiceConnectTimeout},
			SignerMaxAge:    Duration{time.Hour},
			RevocationCheck: Duration{time.Minute},
			KeyMemory:       Duration{10 * time.Second},
		},
		Chain: Chain{Timeout: Duration{2 * time.Second}, MaxOutputBytes: 64 << 10},
	}
}

// Parse decodes data over Default and validates the result. name is the file
// name used in error messages.
func Parse(data []byte, name string) (Config, error) {
	cfg := Default()
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	if unknown := unknownKeys(md.Undecoded()); len(unknown) > 0 {
		return Config{}, fmt.Errorf("config %s: %s", name, describeUnknown(unknown))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	return cfg, nil
}

// Load reads and parses the file at path. A missing file yields Default when
// the path was not given explicitly (the file is optional) and an error when
// it was (the operator named a file that is not there).
func Load(path string, explicit bool) (Config, error) {
	data, err := localfile.Read(path, MaxFileSize, checkOwner)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return Default(), nil
	}
	if err != nil {
		// The path is said once, first: "config X: no such file or directory", not "config X:
		// open X: ...".
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == path {
			err = pe.Err
		}
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return Parse(data, path)
}

// checkOwner refuses a file that someone other than root (or the user running us) could have
// written: the config chooses the trust store and the allowed domains, so whoever can edit it
// decides who logs in as root. sshd applies the same rule to the AuthorizedKeysCommand.
func checkOwner(st fs.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if sys.Uid != 0 && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("owned by uid %d; it must be owned by root (chown root:root)", sys.Uid)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("writable by group or others (mode %04o); run chmod go-w on it", st.Mode().Perm())
	}
	return nil
}

// unknownKeys drops keys nested under another unknown key, so an unknown
// table is reported once rather than once per key inside it.
func unknownKeys(keys []toml.Key) []string {
	var out []string
	for _, k := range keys {
		s := k.String()
		covered := false
		for _, parent := range out {
			if strings.HasPrefix(s, parent+".") {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, s)
		}
	}
	return out
}

func describeUnknown(keys []string) string {
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = fmt.Sprintf("%q", k)
	}
	if len(keys) == 1 {
		return "unknown key " + quoted[0]
	}
	return "unknown keys " + strings.Join(quoted, ", ")
}

// IMDSEndpoint returns the base URL to use: Endpoint when set, else the
// address of EndpointMode. It never has a trailing slash.
func (c Config) IMDSEndpoint() string {
	if c.IMDS.Endpoint != "" {
		return strings.TrimSuffix(c.IMDS.Endpoint, "/")
	}
	if c.IMDS.EndpointMode == "ipv6" {
		return imds.IPv6Endpoint
	}
	return imds.DefaultEndpoint
}

// builtinDomains is upstream's allow-list of IMDS services/domain values.
func builtinDomains() []string {
	return []string{"amazonaws.com", "amazonaws.com.cn", "c2s.ic.gov", "sc2s.sgov.gov"}
}

// AllowedDomains returns the service domains the signer name may be built
// from: the built-in allow-list followed by Trust.ExtraDomains, without
// duplicates. The slice is the caller's to keep.
func (c Config) AllowedDomains() []string {
	out := builtinDomains()
	seen := make(map[string]bool, len(out)+len(c.Trust.ExtraDomains))
	for _, d := range out {
		seen[d] = true
	}
	for _, d := range c.Trust.ExtraDomains {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}
