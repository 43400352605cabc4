package doctor

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
	"github.com/eic-agent/eic-agent/agent/testenv/testkit"
)

var sharedPKI = sync.OnceValues(func() (*pki.PKI, error) { return pki.New(pki.Options{}) })

// instance is an emulator on a real listener plus the files that make this host look like the
// instance it serves: the trust store and the sysfs asset tag.
type instance struct {
	emu   *emulator.Emulator
	clock *testkit.Clock // the emulator's clock (its Date header, staple and token times)
	o     Options
	dir   string
}

// newInstance starts one. p is the PKI (nil: the shared one); noDate strips the Date header.
func newInstance(t *testing.T, p *pki.PKI, noDate bool) *instance {
	t.Helper()
	if p == nil {
		var err error
		if p, err = sharedPKI(); err != nil {
			t.Fatal(err)
		}
	}
	in := &instance{clock: testkit.NewClock(time.Now()), dir: t.TempDir()}
	emu, err := emulator.New(emulator.Config{PKI: p, Now: in.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	in.emu = emu
	var h http.Handler = emu
	if noDate {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			emu.ServeHTTP(noDateWriter{w}, r)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(emu.Close)
	cfg := config.Default()
	cfg.IMDS.Endpoint = srv.URL
	cfg.Trust.CA = in.write(t, "ca.pem", string(p.RootPEM()))
	cfg.Platform.SysfsRoot = filepath.Join(in.dir, "sys")
	in.write(t, "sys/devices/virtual/dmi/id/board_asset_tag", emu.InstanceID()+"\n")
	// An empty root: no container markers and no routes, whatever the host running the test has.
	in.o = Options{Config: cfg, Root: filepath.Join(in.dir, "root"), User: "ec2-user"}
	return in
}

func (in *instance) write(t *testing.T, rel, content string) string {
	t.Helper()
	p := filepath.Join(in.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// noDateWriter drops the Date header: an explicit nil value stops net/http adding its own.
type noDateWriter struct{ http.ResponseWriter }

func (w noDateWriter) WriteHeader(code int) {
	w.Header()["Date"] = nil
	w.ResponseWriter.WriteHeader(code)
}

func (w noDateWriter) Write(b []byte) (int, error) {
	w.Header()["Date"] = nil
	return w.ResponseWriter.Write(b)
}

func TestIMDSCheck(t *testing.T) {
	const noRoutes = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
	v4Default := noRoutes + "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	v6Default := "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0\n"
	tests := []struct {
		name           string
		faults         emulator.Faults
		files          map[string]string // under Options.Root
		endpointMode   string
		status         Status
		detail, remedy string
	}{
		{name: "token-and-instance-id-pass", status: OK, detail: "answered with a token: instance " + emulator.DefaultInstanceID},
		{name: "imdsv1-only-fails", faults: emulator.Faults{NoTokens: true}, status: Fail,
			detail: "IMDSv2 session tokens are refused", remedy: "--http-tokens required"},
		{name: "server-error-fails", faults: emulator.Faults{Status: 500}, status: Fail, detail: "HTTP 500"},
		{name: "hang-fails-within-its-deadline", faults: emulator.Faults{Hang: true}, status: Fail, detail: "imds"},
		{name: "docker-gets-hop-limit-hint", faults: emulator.Faults{Reset: true}, files: map[string]string{".dockerenv": ""},
			status: Fail, remedy: "/.dockerenv exists): allow the token one more hop with aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2"},
		{name: "podman-gets-hop-limit-hint", faults: emulator.Faults{Reset: true}, files: map[string]string{"run/.containerenv": ""},
			status: Fail, remedy: "--http-put-response-hop-limit 2"},
		{name: "kubernetes-cgroup-gets-hop-limit-hint", faults: emulator.Faults{Reset: true},
			files:  map[string]string{"proc/1/cgroup": "0::/kubepods/besteffort/pod1/abc\n"},
			status: Fail, remedy: "/proc/1/cgroup mentions kubepods"},
		{name: "ipv6-only-host-gets-endpoint-hint", faults: emulator.Faults{Reset: true},
			files:  map[string]string{"proc/net/route": noRoutes, "proc/net/ipv6_route": v6Default},
			status: Fail, remedy: `imds.endpoint_mode = "ipv6" to use http://[fd00:ec2::254]`},
		{name: "dual-stack-host-gets-no-ipv6-hint", faults: emulator.Faults{Reset: true},
			files:  map[string]string{"proc/net/route": v4Default, "proc/net/ipv6_route": v6Default},
			status: Fail, remedy: "--http-endpoint enabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := newInstance(t, nil, false)
			in.emu.SetFaults(tc.faults)
			for rel, content := range tc.files {
				in.write(t, filepath.Join("root", rel), content)
			}
			d := New(in.o)
			wantCheck(t, d.IMDS(testContext(t)), tc.status, tc.detail, tc.remedy)
			if tc.status != OK {
				// Every check that needs IMDS says so instead of failing again.
				wantCheck(t, d.Clock(testContext(t)), Warn, "not checked: IMDS did not answer", "imds check")
				wantCheck(t, d.Signer(testContext(t)), Warn, "not checked: IMDS did not answer", "imds check")
			}
		})
	}
}

func TestClockCheck(t *testing.T) {
	tests := []struct {
		name           string
		imdsAhead      time.Duration // how far the emulator's clock is ahead of ours
		noDate         bool
		status         Status
		detail, remedy string
	}{
		{name: "same-clock-passes", status: OK, detail: "local clock within 1s of IMDS's"},
		{name: "ten-seconds-behind-warns", imdsAhead: 10 * time.Second, status: Warn, detail: "s behind IMDS's (Date ", remedy: "chronyc"},
		{name: "ten-seconds-ahead-warns", imdsAhead: -10 * time.Second, status: Warn, detail: "s ahead of IMDS's (Date "},
		{name: "ninety-seconds-off-fails", imdsAhead: -90 * time.Second, status: Fail, detail: "pushed keys (valid 60 s) look expired", remedy: "169.254.169.123"},
		{name: "no-date-header-warns", noDate: true, status: Warn, detail: "carried no Date header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := newInstance(t, nil, tc.noDate)
			in.clock.Advance(tc.imdsAhead)
			wantCheck(t, New(in.o).Clock(testContext(t)), tc.status, tc.detail, tc.remedy)
		})
	}
}

func TestPlatformCheck(t *testing.T) {
	tests := []struct {
		name           string
		tag            string // board asset tag; "" removes it
		xen            string // hypervisor/uuid, when set
		status         Status
		detail, remedy string
	}{
		{name: "nitro-tag-matching-imds-passes", tag: emulator.DefaultInstanceID, status: OK, detail: "nitro"},
		{name: "xen-passes", xen: "ec2e1916-9099-7caf-fd21-012345abcdef", status: OK, detail: "xen"},
		{name: "no-evidence-fails", status: Fail, detail: "not an EC2 instance", remedy: "platform.sysfs_root"},
		{name: "other-instances-tag-fails", tag: "i-0fedcba9876543210", status: Fail,
			detail: "does not match instance id", remedy: "not this instance's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := newInstance(t, nil, false)
			sys := in.o.Config.Platform.SysfsRoot
			if err := os.RemoveAll(sys); err != nil {
				t.Fatal(err)
			}
			if tc.tag != "" {
				in.write(t, "sys/devices/virtual/dmi/id/board_asset_tag", tc.tag+"\n")
			}
			if tc.xen != "" {
				in.write(t, "sys/hypervisor/uuid", tc.xen+"\n")
			}
			wantCheck(t, New(in.o).Platform(testContext(t)), tc.status, tc.detail, tc.remedy)
		})
	}
}
