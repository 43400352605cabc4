package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"empty-file-gives-defaults", ""},
		{"comments-only-give-defaults", "# nothing set\n\n# deadline = \"1s\"\n"},
		{"empty-tables-give-defaults", "[imds]\n[trust]\n[platform]\n[users]\n[log]\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.data), "test.toml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(Default(), got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
}

func TestParseEveryKey(t *testing.T) {
	data := `
deadline = "2500ms"

[imds]
endpoint = "http://127.0.0.1:8080/"
endpoint_mode = "ipv6"
request_timeout = "300ms"
attempts = 3
max_response_bytes = 65536

[trust]
ca = "/etc/eic-agent/roots.pem"
extra_domains = ["amazonaws.example", "amazonaws.com"]

[platform]
sysfs_root = "/tmp/fake-sys"

[users]
getent = "none"

[log]
target = "syslog"
level = "debug"

[service]
enabled = false
socket = "/run/x/agent.sock"
user = "eic"
connect_timeout = "50ms"
signer_max_age = "10m"
revocation_check = "30s"
key_memory = "5s"

[chain]
command = ["/usr/bin/sss_ssh_authorizedkeys", "%u"]
timeout = "1s"
max_output_bytes = 4096
`
	want := Config{
		Deadline: Duration{2500 * time.Millisecond},
		IMDS: IMDS{
			Endpoint:         "http://127.0.0.1:8080/",
			EndpointMode:     "ipv6",
			RequestTimeout:   Duration{300 * time.Millisecond},
			Attempts:         3,
			MaxResponseBytes: 65536,
		},
		Trust: Trust{
			CA:           "/etc/eic-agent/roots.pem",
			ExtraDomains: []string{"amazonaws.example", "amazonaws.com"},
		},
		Platform: Platform{SysfsRoot: "/tmp/fake-sys"},
		Users:    Users{Getent: "none"},
		Log:      Log{Target: "syslog", Level: "debug"},
		Service: Service{Enabled: false, Socket: "/run/x/agent.sock", User: "eic",
			ConnectTimeout: Duration{50 * time.Millisecond}, SignerMaxAge: Duration{10 * time.Minute},
			RevocationCheck: Duration{30 * time.Second}, KeyMemory: Duration{5 * time.Second}},
		Chain: Chain{Command: []string{"/usr/bin/sss_ssh_authorizedkeys", "%u"}, Timeout: Duration{time.Second}, MaxOutputBytes: 4096},
	}
	got, err := Parse([]byte(data), "test.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if got, want := got.IMDSEndpoint(), "http://127.0.0.1:8080"; got != want {
		t.Errorf("IMDSEndpoint() = %q, want %q (explicit endpoint wins over mode, no trailing slash)", got, want)
	}
	wantDomains := []string{"amazonaws.com", "amazonaws.com.cn", "c2s.ic.gov", "sc2s.sgov.gov", "amazonaws.example"}
	if diff := cmp.Diff(wantDomains, got.AllowedDomains()); diff != "" {
		t.Errorf("AllowedDomains() (-want +got):\n%s", diff)
	}
}

func TestIMDSEndpointByMode(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"default-mode-is-ipv4", "", "http://169.254.169.254"},
		{"ipv4-mode", "[imds]\nendpoint_mode = \"ipv4\"\n", "http://169.254.169.254"},
		{"ipv6-mode", "[imds]\nendpoint_mode = \"ipv6\"\n", "http://[fd00:ec2::254]"},
		{"endpoint-overrides-mode", "[imds]\nendpoint_mode = \"ipv6\"\nendpoint = \"http://[::1]:1338\"\n", "http://[::1]:1338"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.data), "test.toml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := cfg.IMDSEndpoint(); got != tc.want {
				t.Errorf("IMDSEndpoint() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAllowedDomainsDefault(t *testing.T) {
	want := []string{"amazonaws.com", "amazonaws.com.cn", "c2s.ic.gov", "sc2s.sgov.gov"}
	cfg := Default()
	got := cfg.AllowedDomains()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AllowedDomains() (-want +got):\n%s", diff)
	}
	got[0] = "attacker.example"
	if cfg.AllowedDomains()[0] != "amazonaws.com" {
		t.Errorf("changing the returned slice changed the allow-list")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string // substrings the error must contain
	}{
		{"unknown-key-named-with-file", "[imds]\nendpont = \"http://x\"\n",
			[]string{`config test.toml: unknown key "imds.endpont"`}},
		{"unknown-top-level-key", "deadlin = \"1s\"\n", []string{`unknown key "deadlin"`}},
		{"every-unknown-key-named", "foo = 1\n[log]\ntarget = \"stderr\"\nlevl = \"debug\"\n",
			[]string{`unknown keys "foo", "log.levl"`}},
		{"unknown-table-named-once", "[servce]\nsocket = \"/run/x\"\nmode = 1\n",
			[]string{`unknown key "servce"`}},
		{"deadline-too-short", "deadline = \"50ms\"\n", []string{`deadline = "50ms": must be between 100ms and 10s`}},
		{"deadline-too-long", "deadline = \"11s\"\n", []string{`deadline = "11s"`}},
		{"deadline-negative", "deadline = \"-1s\"\n", []string{`deadline = "-1s"`}},
		{"request-timeout-too-short", "[imds]\nrequest_timeout = \"10ms\"\n", []string{`imds.request_timeout = "10ms"`}},
		{"request-timeout-too-long", "[imds]\nrequest_timeout = \"6s\"\n", []string{`imds.request_timeout = "6s"`}},
		{"attempts-zero", "[imds]\nattempts = 0\n", []string{"imds.attempts = 0: must be between 1 and 5"}},
		{"attempts-too-many", "[imds]\nattempts = 6\n", []string{"imds.attempts = 6"}},
		{"max-response-too-small", "[imds]\nmax_response_bytes = 4095\n", []string{"imds.max_response_bytes = 4095"}},
		{"max-response-too-large", "[imds]\nmax_response_bytes = 8388609\n", []string{"imds.max_response_bytes = 8388609"}},
		{"endpoint-mode-unknown", "[imds]\nendpoint_mode = \"dualstack\"\n", []string{`imds.endpoint_mode = "dualstack": must be one of ipv4, ipv6`}},
		{"endpoint-https-refused", "[imds]\nendpoint = \"https://169.254.169.254\"\n", []string{"imds.endpoint", "scheme must be http"}},
		{"endpoint-path-refused", "[imds]\nendpoint = \"http://169.254.169.254/latest\"\n", []string{"must not have a path"}},
		{"endpoint-query-refused", "[imds]\nendpoint = \"http://169.254.169.254?x=1\"\n", []string{"must not have a query"}},
		{"endpoint-userinfo-refused", "[imds]\nendpoint = \"http://u:p@169.254.169.254\"\n", []string{"user information"}},
		{"endpoint-without-host-refused", "[imds]\nendpoint = \"http:///x\"\n", []string{"imds.endpoint"}},
		{"endpoint-not-url-refused", "[imds]\nendpoint = \"169.254.169.254\"\n", []string{"imds.endpoint"}},
		{"extra-domain-uppercase-refused", "[trust]\nextra_domains = [\"Example.com\"]\n", []string{`trust.extra_domains: "Example.com"`}},
		{"extra-domain-single-label-refused", "[trust]\nextra_domains = [\"com\"]\n", []string{"at least two labels"}},
		{"extra-domain-trailing-dot-refused", "[trust]\nextra_domains = [\"x.example.\"]\n",
			[]string{`trust.extra_domains: "x.example.": trailing dots are not allowed: write "x.example"`}},
		{"extra-domain-only-dots-refused", "[trust]\nextra_domains = [\"..\"]\n", []string{`"..": each label must be 1..63 characters`}},
		{"extra-domain-empty-refused", "[trust]\nextra_domains = [\"\"]\n", []string{"empty domain"}},
		{"extra-domain-hyphen-edge-refused", "[trust]\nextra_domains = [\"-x.example.com\"]\n", []string{"starts or ends with '-'"}},
		{"ca-relative-refused", "[trust]\nca = \"roots.pem\"\n", []string{`trust.ca = "roots.pem": must be an absolute path`}},
		{"sysfs-root-relative-refused", "[platform]\nsysfs_root = \"sys\"\n", []string{"platform.sysfs_root"}},
		{"sysfs-root-empty-refused", "[platform]\nsysfs_root = \"\"\n", []string{"platform.sysfs_root: must not be empty"}},
		{"getent-relative-refused", "[users]\ngetent = \"getent\"\n", []string{"users.getent"}},
		{"log-target-unknown", "[log]\ntarget = \"file\"\n", []string{`log.target = "file"`}},
		{"log-level-unknown", "[log]\nlevel = \"trace\"\n", []string{`log.level = "trace"`}},
		{"every-problem-reported", "deadline = \"1h\"\n[imds]\nattempts = 9\n",
			[]string{"deadline", "; imds.attempts = 9"}},
		{"bare-number-duration-refused", "deadline = 5\n", []string{"config test.toml", `duration "5"`}},
		{"garbage-duration-refused", "deadline = \"soon\"\n", []string{`duration "soon"`}},
		{"wrong-type-refused", "[imds]\nattempts = \"2\"\n", []string{"config test.toml", "attempts"}},
		{"syntax-error-refused", "deadline = \n", []string{"config test.toml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), "test.toml")
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestRevocationCheckRange: the window in which a revoked signer may still grant keys has a
// default of one key lifetime and a documented range; nothing outside it, zero (which would turn
// the check off) included, is accepted.
func TestRevocationCheckRange(t *testing.T) {
	if got, want := Default().Service.RevocationCheck.Duration, time.Minute; got != want {
		t.Errorf("default service.revocation_check = %v, want %v", got, want)
	}
	tests := []struct {
		name    string
		value   string
		wantErr string // "" when the value is accepted
	}{
		{"lower-bound-accepted", "10s", ""},
		{"upper-bound-accepted", "5m", ""},
		{"below-range-refused", "9s", `service.revocation_check = "9s": must be between 10s and 5m0s`},
		{"above-range-refused", "301s", `service.revocation_check = "5m1s": must be between 10s and 5m0s`},
		{"zero-refused", "0s", `service.revocation_check = "0s"`},
		{"negative-refused", "-1m", `service.revocation_check = "-1m0s"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("[service]\nrevocation_check = \""+tc.value+"\"\n"), "test.toml")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Parse: %v, want %s accepted", err, tc.value)
			case tc.wantErr == "":
				want, _ := time.ParseDuration(tc.value)
				if got := cfg.Service.RevocationCheck.Duration; got != want {
					t.Errorf("service.revocation_check = %v, want %v", got, want)
				}
			case err == nil:
				t.Fatalf("Parse accepted %s, want an error containing %q", tc.value, tc.wantErr)
			case !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestDurationText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"seconds", "5s", 5 * time.Second},
		{"milliseconds", "250ms", 250 * time.Millisecond},
		{"compound", "1s500ms", 1500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Duration
			if err := d.UnmarshalText([]byte(tc.in)); err != nil {
				t.Fatalf("UnmarshalText(%q): %v", tc.in, err)
			}
			if d.Duration != tc.want {
				t.Errorf("UnmarshalText(%q) = %v, want %v", tc.in, d.Duration, tc.want)
			}
			out, err := d.MarshalText()
			if err != nil {
				t.Fatalf("MarshalText: %v", err)
			}
			var back Duration
			if err := back.UnmarshalText(out); err != nil || back != d {
				t.Errorf("round trip of %q via %q = %v, %v; want %v", tc.in, out, back, err, d)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte("[log]\nlevel = \"warn\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", MaxFileSize+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("bogus = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.toml")
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	withWarn := Default()
	withWarn.Log.Level = "warn"

	tests := []struct {
		name     string
		path     string
		explicit bool
		want     Config
		wantErr  string // substring; "" means success
	}{
		{"missing-implicit-gives-defaults", missing, false, Default(), ""},
		{"missing-explicit-is-error-naming-the-path-once", missing, true, Config{}, "config " + missing + ": no such file or directory"},
		{"existing-file-parsed", good, true, withWarn, ""},
		{"existing-file-parsed-implicit", good, false, withWarn, ""},
		{"too-large-refused", big, false, Config{}, "larger than 1048576 bytes"},
		{"directory-refused-in-words", dir, true, Config{}, "config " + dir + ": is a directory, not a regular file"},
		{"fifo-refused-in-words-without-blocking", fifo, true, Config{}, "config " + fifo + ": is a named pipe (FIFO), not a regular file"},
		{"invalid-file-implicit-still-error", bad, false, Config{}, `config ` + bad + `: unknown key "bogus"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(tc.path, tc.explicit)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadRefusesWritableByOthers(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		ok   bool
	}{
		{"owner-only-accepted", 0o600, true},
		{"world-readable-accepted", 0o644, true},
		{"group-writable-refused", 0o664, false},
		{"world-writable-refused", 0o646, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(p, []byte("deadline = \"2s\"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p, true)
			if (err == nil) != tc.ok {
				t.Fatalf("Load with mode %04o: err = %v, want ok=%v", tc.mode, err, tc.ok)
			}
		})
	}
}
