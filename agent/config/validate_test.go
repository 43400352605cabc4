package config

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// systemUserRe is the expression validSystemUser replaced, kept as its reference.
var systemUserRe = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

func TestValidSystemUser(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     bool
	}{
		{"packaged-user", "ec2-instance-connect", true},
		{"one-letter", "a", true},
		{"underscore-first", "_eic", true},
		{"32-characters", strings.Repeat("a", 32), true},
		{"33-characters-refused", strings.Repeat("a", 33), false},
		{"empty-refused", "", false},
		{"digit-first-refused", "1eic", false},
		{"dash-first-refused", "-eic", false},
		{"uppercase-refused", "Eic", false},
		{"dot-refused", "eic.agent", false},
		{"dollar-refused", "eic$", false},
		{"trailing-newline-refused", "eic\n", false},
		{"nul-refused", "eic\x00root", false},
		{"non-ascii-refused", "\u00e9ic", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := validSystemUser(tc.in); got != tc.want {
				t.Errorf("validSystemUser(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// TestValidSystemUserAgreesWithItsExpression compares the check with the expression on runs of
// one byte at every length near the bound and on random strings over the boundary bytes, with
// a fixed seed so a failure reproduces.
func TestValidSystemUserAgreesWithItsExpression(t *testing.T) {
	const interesting = "az_-09AZ.$ \n\x00`{/\xc3\xa9\xff"
	check := func(in string) {
		t.Helper()
		if got, want := validSystemUser(in), systemUserRe.MatchString(in); got != want {
			t.Fatalf("validSystemUser(%q) = %v, the expression says %v", in, got, want)
		}
	}
	for _, c := range []byte(interesting) {
		for n := range 40 {
			check(strings.Repeat(string(c), n))
			check("a" + strings.Repeat(string(c), n))
			check(strings.Repeat("a", n) + string(c))
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		b := make([]byte, rng.IntN(36))
		for i := range b {
			b[i] = interesting[rng.IntN(len(interesting))]
		}
		check(string(b))
	}
}

func FuzzValidSystemUser(f *testing.F) {
	for _, seed := range []string{"ec2-instance-connect", "_", strings.Repeat("a", 33), "A"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := validSystemUser(in), systemUserRe.MatchString(in); got != want {
			t.Fatalf("validSystemUser(%q) = %v, the expression says %v", in, got, want)
		}
	})
}
