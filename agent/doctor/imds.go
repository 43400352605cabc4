package doctor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/imds"
	"github.com/eic-agent/eic-agent/agent/localfile"
	"github.com/eic-agent/eic-agent/agent/platform"
)

// Clock thresholds: a pushed key lives 60 s, so a clock a minute off rejects every key.
const (
	ClockWarn = 5 * time.Second
	ClockFail = 60 * time.Second
)

// Platform runs the helper's "am I on EC2?" check on the configured sysfs root, and confirms a
// Nitro asset tag against the instance id IMDS reports when IMDS answers.
func (d *Doctor) Platform(ctx context.Context) Check {
	c := Check{Name: "platform"}
	sysfs := d.o.Config.Platform.SysfsRoot
	res := platform.Detect(sysfs)
	if res.Kind == platform.NotEC2 {
		return fail(c, "not an EC2 instance: "+res.Reason+"; the helper does nothing here",
			"run on an EC2 instance, or set platform.sysfs_root when sysfs is mounted elsewhere")
	}
	detail := res.Kind.String() + ": " + res.Reason
	if p, err := d.probe.get(ctx, d.runProbe); err == nil {
		if err := res.Confirm(p.InstanceID); err != nil {
			return fail(c, err.Error()+"; the helper trusts nothing IMDS serves",
				"the metadata service answering is not this instance's: check imds.endpoint and for a proxy in front of IMDS")
		}
	}
	return ok(c, detail)
}

func (d *Doctor) runProbe(ctx context.Context) (imds.Probe, error) {
	cfg := d.o.Config
	ctx, cancel := context.WithTimeout(ctx, IMDSTimeout)
	defer cancel()
	client := imds.New(imds.Config{
		Endpoint:       cfg.IMDSEndpoint(),
		RequestTimeout: cfg.IMDS.RequestTimeout.Duration,
		Attempts:       1, // the first answer is what the helper would get
		MaxBodyBytes:   cfg.IMDS.MaxResponseBytes,
	})
	return client.Probe(ctx, d.o.Now)
}

// IMDS checks that the metadata service answers with a session token, and hints at the usual
// reasons when it does not: a container one hop too far (the token's hop limit) and an
// IPv6-only instance asking the IPv4 address.
func (d *Doctor) IMDS(ctx context.Context) Check {
	c := Check{Name: "imds"}
	endpoint := d.o.Config.IMDSEndpoint()
	p, err := d.probe.get(ctx, d.runProbe)
	if err == nil {
		return ok(c, fmt.Sprintf("%s answered with a token: instance %s in %s", endpoint, p.InstanceID,
			p.Received.Sub(p.Sent).Round(time.Millisecond)))
	}
	remedy := "check that the instance's metadata service is enabled with IMDSv2 (aws ec2 modify-instance-metadata-options --http-endpoint enabled --http-tokens required)"
	var hints []string
	if why := d.inContainer(); why != "" {
		hints = append(hints, "this runs in a container ("+why+"): allow the token one more hop with aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2")
	}
	if ipv4Endpoint(endpoint) && d.ipv6Only() {
		hints = append(hints, "this host has an IPv6 default route and no IPv4 one: set imds.endpoint_mode = \"ipv6\" to use http://[fd00:ec2::254] (and enable the IPv6 endpoint: --http-protocol-ipv6 enabled)")
	}
	if len(hints) > 0 {
		remedy = strings.Join(hints, "; ")
	}
	return fail(c, err.Error(), remedy)
}

// Clock compares the local clock with the Date of IMDS's answer: keys live 60 s, so a skewed
// clock rejects fresh keys or accepts stale ones.
func (d *Doctor) Clock(ctx context.Context) Check {
	c := Check{Name: "clock"}
	p, err := d.probe.get(ctx, d.runProbe)
	switch {
	case err != nil:
		return warn(c, "not checked: IMDS did not answer", "fix the imds check first")
	case p.Date.IsZero():
		return warn(c, "not checked: IMDS's answer carried no Date header", "compare the clock with a time source (chronyc tracking, timedatectl)")
	}
	// Date has one-second resolution and was stamped between Sent and Received: only the
	// part of the difference no rounding or transit explains counts.
	skew := time.Duration(0)
	if lo, hi := p.Sent.Add(-time.Second), p.Received; p.Date.Before(lo) {
		skew = p.Date.Sub(lo)
	} else if p.Date.After(hi) {
		skew = p.Date.Sub(hi)
	}
	abs := max(skew, -skew)
	detail := fmt.Sprintf("local clock within %s of IMDS's (Date %s)", max(abs, time.Second), p.Date.UTC().Format(time.RFC3339))
	if abs >= time.Second {
		dir := "ahead of"
		if skew > 0 {
			dir = "behind"
		}
		detail = fmt.Sprintf("local clock %s %s IMDS's (Date %s)", abs.Round(time.Second), dir, p.Date.UTC().Format(time.RFC3339))
	}
	remedy := "synchronise the clock (Amazon Time Sync: server 169.254.169.123 in chrony.conf; chronyc makestep)"
	switch {
	case abs > ClockFail:
		return fail(c, detail+": pushed keys (valid 60 s) look expired or not yet pushed", remedy)
	case abs > ClockWarn:
		return warn(c, detail, remedy)
	}
	return ok(c, detail)
}

// ipv4Endpoint reports whether the endpoint's host is an IPv4 address (the default one, or
// another given as imds.endpoint), which an IPv6-only host cannot reach.
func ipv4Endpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(u.Hostname())
	return err == nil && ip.Is4()
}

// inContainer names the evidence that this runs in a container, or "" for none.
func (d *Doctor) inContainer() string {
	for _, f := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Lstat(filepath.Join(d.o.Root, f)); err == nil {
			return f + " exists"
		}
	}
	cg, err := localfile.Read(filepath.Join(d.o.Root, "proc/1/cgroup"), 64<<10, nil)
	if err != nil {
		return ""
	}
	for _, hint := range []string{"docker", "kubepods", "containerd", "libpod", "lxc"} {
		if bytes.Contains(cg, []byte(hint)) {
			return "/proc/1/cgroup mentions " + hint
		}
	}
	return ""
}

// ipv6Only reports whether the host has an IPv6 default route and no IPv4 one.
func (d *Doctor) ipv6Only() bool {
	v4, err4 := defaultRoute(filepath.Join(d.o.Root, "proc/net/route"), func(f []string) bool {
		return len(f) > 7 && f[0] != "Iface" && f[1] == "00000000" && f[7] == "00000000"
	})
	v6, err6 := defaultRoute(filepath.Join(d.o.Root, "proc/net/ipv6_route"), func(f []string) bool {
		return len(f) > 9 && f[0] == strings.Repeat("0", 32) && f[1] == "00" && f[9] != "lo"
	})
	return err4 == nil && err6 == nil && !v4 && v6
}

func defaultRoute(path string, isDefault func([]string) bool) (bool, error) {
	data, err := localfile.Read(path, 1<<20, nil)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // no such protocol on this host
	}
	if err != nil {
		return false, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if isDefault(strings.Fields(sc.Text())) {
			return true, nil
		}
	}
	return false, sc.Err()
}
