package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/chain"
)

// Validate reports every value out of its documented range, as one error whose
// message lists the problems separated by "; ".
func (c Config) Validate() error {
	var p problems
	p.duration("deadline", c.Deadline.Duration, 100*time.Millisecond, 10*time.Second)

	if c.IMDS.Endpoint != "" {
		if err := checkEndpoint(c.IMDS.Endpoint); err != nil {
			p.add("imds.endpoint = %q: %v", c.IMDS.Endpoint, err)
		}
	}
	p.oneOf("imds.endpoint_mode", c.IMDS.EndpointMode, "ipv4", "ipv6")
	p.duration("imds.request_timeout", c.IMDS.RequestTimeout.Duration, 50*time.Millisecond, 5*time.Second)
	if a := c.IMDS.Attempts; a < 1 || a > 5 {
		p.add("imds.attempts = %d: must be between 1 and 5", a)
	}
	if m := c.IMDS.MaxResponseBytes; m < 4<<10 || m > 8<<20 {
		p.add("imds.max_response_bytes = %d: must be between 4096 (4 KiB) and 8388608 (8 MiB)", m)
	}

	if c.Trust.CA != "" {
		p.absPath("trust.ca", c.Trust.CA)
	}
	for _, d := range c.Trust.ExtraDomains {
		if err := checkDomain(d); err != nil {
			p.add("trust.extra_domains: %q: %v", d, err)
		}
	}

	if c.Platform.SysfsRoot == "" {
		p.add("platform.sysfs_root: must not be empty (default \"/sys\")")
	} else {
		p.absPath("platform.sysfs_root", c.Platform.SysfsRoot)
	}
	if g := c.Users.Getent; g != "" && g != "none" {
		p.absPath("users.getent", g)
	}

	p.oneOf("log.target", c.Log.Target, "auto", "journald", "syslog", "stderr")
	p.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")

	p.absPath("service.socket", c.Service.Socket)
	if !validSystemUser(c.Service.User) {
		p.add("service.user = %q: must be a system account name", c.Service.User)
	}
	p.duration("service.connect_timeout", c.Service.ConnectTimeout.Duration, 10*time.Millisecond, 2*time.Second)
	p.duration("service.signer_max_age", c.Service.SignerMaxAge.Duration, time.Minute, 24*time.Hour)
	// At least the longest deadline, so one check can finish before the next is due; at most a
	// few key lifetimes, so a stolen signer key cannot serve fresh keys for long.
	p.duration("service.revocation_check", c.Service.RevocationCheck.Duration, 10*time.Second, 5*time.Minute)
	p.duration("service.key_memory", c.Service.KeyMemory.Duration, 0, time.Minute)

	c.validateChain(&p)
	return p.err()
}

// validateChain checks the [chain] table. The program's ownership and modes are not checked
// here but each time it runs (sshdpath.Check), as sshd does: a chained program removed or
// loosened later must cost its own keys only, never every EC2 Instance Connect login.
func (c Config) validateChain(p *problems) {
	ch := c.Chain
	p.duration("chain.timeout", ch.Timeout.Duration, 50*time.Millisecond, 10*time.Second)
	if m := ch.MaxOutputBytes; m < 1<<10 || m > 1<<20 {
		p.add("chain.max_output_bytes = %d: must be between 1024 (1 KiB) and 1048576 (1 MiB)", m)
	}
	if len(ch.Command) == 0 {
		return
	}
	if err := chain.CheckTemplate(ch.Command); err != nil {
		p.add("chain.command: %v", err)
	}
	if limit := c.Deadline.Duration - ChainReserve; ch.Timeout.Duration > limit {
		p.add("chain.timeout = %q: must be at most deadline minus %s (%s), so the helper can stop the chained command and still print every key in time; lower it or raise deadline",
			ch.Timeout.Duration.String(), ChainReserve, limit)
	}
}

// validSystemUser reports whether name looks like a system account: `^[a-z_][a-z0-9_-]{0,31}$`.
// It is written out rather than a regular expression because compiling that one cost every
// start of the helper about 0.05 ms and 380 allocations; validate_test.go keeps the expression
// and checks this function against it.
func validSystemUser(name string) bool {
	if len(name) == 0 || len(name) > 32 || !(name[0] == '_' || 'a' <= name[0] && name[0] <= 'z') {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkEndpoint accepts only a plain base URL: IMDS speaks http, and a path,
// query or credentials in the base would be silently dropped or mangled when
// request paths are appended.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http":
		return fmt.Errorf("scheme must be http (IMDS does not speak %q)", u.Scheme)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("must be http://HOST[:PORT]")
	case u.User != nil:
		return fmt.Errorf("must not contain user information")
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("must not have a path (got %q)", u.Path)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("must not have a query")
	case u.Fragment != "":
		return fmt.Errorf("must not have a fragment")
	}
	return nil
}

// checkDomain accepts lowercase DNS names of at least two labels: the domain
// becomes part of the signer certificate name we trust, so it must compare
// exactly with what IMDS serves (lowercase, no trailing dot).
func checkDomain(d string) error {
	if d == "" {
		return fmt.Errorf("empty domain")
	}
	if len(d) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	if t := strings.TrimRight(d, "."); t != d && t != "" {
		return fmt.Errorf("trailing dots are not allowed: write %q (IMDS serves the domain without one)", t)
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return fmt.Errorf("must have at least two labels (like example.com)")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("each label must be 1..63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with '-'", l)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("label %q: only lowercase letters, digits and '-' are allowed", l)
			}
		}
	}
	return nil
}

// problems collects validation failures so the operator sees all of them at
// once instead of fixing the file one error at a time.
type problems []string

func (p *problems) add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

func (p *problems) duration(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		p.add("%s = %q: must be between %s and %s", key, d.String(), lo, hi)
	}
}

func (p *problems) oneOf(key, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	p.add("%s = %q: must be one of %s", key, v, strings.Join(allowed, ", "))
}

func (p *problems) absPath(key, path string) {
	if !filepath.IsAbs(path) {
		p.add("%s = %q: must be an absolute path", key, path)
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(p, "; "))
}
