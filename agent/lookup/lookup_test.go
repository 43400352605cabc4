package lookup

import (
	"strings"
	"testing"

	"github.com/eic-agent/eic-agent/agent/config"
)

func TestValidateUser(t *testing.T) {
	tests := []struct {
		name, user string
		ok         bool
	}{
		{"plain-accepted", "ec2-user", true},
		{"ad-style-accepted", "alice@corp.example", true},
		{"underscore-start-accepted", "_svc", true},
		{"dollar-end-accepted", "machine$", true},
		{"thirty-two-accepted", strings.Repeat("a", 32), true},
		{"empty-refused", "", false},
		{"dot-dot-slash-refused", "../x", false},
		{"slash-refused", "a/b", false},
		{"percent-refused", "%2e%2e", false},
		{"space-refused", "a b", false},
		{"newline-refused", "a\nb", false},
		{"digit-start-refused", "1abc", false},
		{"thirty-three-refused", strings.Repeat("a", 33), false},
		{"dollar-inside-refused", "a$b", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateUser(tc.user); (err == nil) != tc.ok {
				t.Fatalf("ValidateUser(%q) = %v, want ok=%v", tc.user, err, tc.ok)
			}
		})
	}
}

func TestCheckPlacement(t *testing.T) {
	tests := []struct {
		name, region, zone string
		ok                 bool
	}{
		{"zone-letter-accepted", "us-east-1", "us-east-1a", true},
		{"local-zone-accepted", "us-west-2", "us-west-2-lax-1a", true},
		{"wavelength-zone-accepted", "us-east-1", "us-east-1-wl1-bos-wlz-1", true},
		{"other-region-refused", "us-east-1", "us-east-2a", false},
		{"prefix-without-dash-refused", "us-east-1", "us-east-12a", false},
		{"uppercase-letter-refused", "us-east-1", "us-east-1A", false},
		{"region-alone-refused", "us-east-1", "us-east-1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkPlacement(tc.region, tc.zone); (err == nil) != tc.ok {
				t.Fatalf("checkPlacement(%q, %q) = %v, want ok=%v", tc.region, tc.zone, err, tc.ok)
			}
		})
	}
}

func TestCheckDomain(t *testing.T) {
	tests := []struct {
		name, domain string
		allowed      []string
		ok           bool
	}{
		{"default-list-accepted", "amazonaws.com", config.Default().AllowedDomains(), true},
		{"china-accepted", "amazonaws.com.cn", config.Default().AllowedDomains(), true},
		{"attacker-refused", "attacker.example", config.Default().AllowedDomains(), false},
		{"suffix-trick-refused", "amazonaws.com.attacker.example", config.Default().AllowedDomains(), false},
		{"configured-extra-accepted", "example.internal", append(config.Default().AllowedDomains(), "example.internal"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkDomain(tc.domain, tc.allowed)
			if (err == nil) != tc.ok {
				t.Fatalf("checkDomain(%q) = %v, want ok=%v", tc.domain, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "trust.extra_domains") {
				t.Errorf("refusal does not say what to do: %v", err)
			}
		})
	}
}
