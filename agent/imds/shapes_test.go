package imds

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// shapes pairs each hand-written check with the regular expression it replaced, which stays
// here as the reference: the checks must accept exactly what the expressions accepted.
var shapes = []struct {
	name  string
	valid func(string) bool
	ref   *regexp.Regexp
	seeds []string // valid values to mutate from
}{
	{"instance-id", ValidInstanceID, regexp.MustCompile(`^i-[0-9a-f]{8,32}$`),
		[]string{"i-0123456789abcdef0", "i-12345678", "i-" + strings.Repeat("f", 32)}},
	{"region", validRegion, regexp.MustCompile(`^[a-z]+(-[a-z]+)+-[0-9]+$`),
		[]string{"us-east-1", "us-gov-west-1", "cn-north-1", "a-b-0"}},
	{"zone", validZone, regexp.MustCompile(`^[a-z0-9-]{1,64}$`),
		[]string{"us-east-1a", "use1-az1", strings.Repeat("z", 64)}},
	{"domain", validDomain, regexp.MustCompile(`^[a-z0-9.-]{1,253}$`),
		[]string{"amazonaws.com", "amazonaws.com.cn", "c2s.ic.gov", strings.Repeat("a.", 126) + "b"}},
	{"staple-name", validStapleName, regexp.MustCompile(`^[0-9A-Fa-f]{40,128}$`),
		[]string{strings.Repeat("aB3", 14), strings.Repeat("0", 40), strings.Repeat("F", 128)}},
	// ValidUser was len(user) <= 32 && this expression.
	{"user", ValidUser, regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9@._-]{0,30}[A-Za-z0-9$_-]?$`),
		[]string{"ec2-user", "a", "_", "machine$", "first.last@corp", "x" + strings.Repeat("@", 30) + "$"}},
	{"meta-path", validMetaPath, regexp.MustCompile(`^[A-Za-z0-9_@$-][A-Za-z0-9._@$-]*(/[A-Za-z0-9_@$-][A-Za-z0-9._@$-]*)*/?$`),
		[]string{"instance-id", "placement/region/", "managed-ssh-keys/active-keys/first.last@corp/", "a/b.c/_d$"}},
}

func shape(t testing.TB, name string) func(string) bool {
	for _, s := range shapes {
		if s.name == name {
			return s.valid
		}
	}
	t.Fatalf("no shape %q", name)
	return nil
}

func TestShapesAcceptAndRefuse(t *testing.T) {
	hex32 := strings.Repeat("a", 32)
	for _, tc := range []struct {
		name, shape, in string
		want            bool
	}{
		{"instance-id-short-form", "instance-id", "i-12345678", true},
		{"instance-id-long-form", "instance-id", "i-0123456789abcdef0", true},
		{"instance-id-32-hex", "instance-id", "i-" + hex32, true},
		{"instance-id-33-hex-refused", "instance-id", "i-" + hex32 + "a", false},
		{"instance-id-7-hex-refused", "instance-id", "i-1234567", false},
		{"instance-id-uppercase-refused", "instance-id", "i-0123456789ABCDEF0", false},
		{"instance-id-trailing-newline-refused", "instance-id", "i-0123456789abcdef0\n", false},
		{"instance-id-other-prefix-refused", "instance-id", "j-0123456789abcdef0", false},
		{"instance-id-path-refused", "instance-id", "i-01234567/../x", false},
		{"instance-id-empty-refused", "instance-id", "", false},
		{"region-us-east-1", "region", "us-east-1", true},
		{"region-three-words", "region", "us-gov-west-1", true},
		{"region-one-word-refused", "region", "local-1", false},
		{"region-no-number-refused", "region", "us-east", false},
		{"region-double-dash-refused", "region", "us--east-1", false},
		{"region-leading-dash-refused", "region", "-us-east-1", false},
		{"region-uppercase-refused", "region", "US-east-1", false},
		{"region-letter-in-number-refused", "region", "us-east-1a", false},
		{"region-trailing-dash-refused", "region", "us-east-1-", false},
		{"zone-name", "zone", "us-east-1a", true},
		{"zone-id", "zone", "use1-az1", true},
		{"zone-65-refused", "zone", strings.Repeat("z", 65), false},
		{"zone-empty-refused", "zone", "", false},
		{"zone-dot-refused", "zone", "us.east", false},
		{"domain-amazonaws", "domain", "amazonaws.com", true},
		{"domain-253", "domain", strings.Repeat("a", 253), true},
		{"domain-254-refused", "domain", strings.Repeat("a", 254), false},
		{"domain-uppercase-refused", "domain", "AmazonAWS.com", false},
		{"domain-slash-refused", "domain", "evil.com/x", false},
		{"domain-nul-refused", "domain", "amazonaws.com\x00evil", false},
		{"staple-sha1-hex", "staple-name", strings.Repeat("aF", 20), true},
		{"staple-128", "staple-name", strings.Repeat("0", 128), true},
		{"staple-39-refused", "staple-name", strings.Repeat("0", 39), false},
		{"staple-129-refused", "staple-name", strings.Repeat("0", 129), false},
		{"staple-non-hex-refused", "staple-name", strings.Repeat("0", 39) + "g", false},
		{"staple-traversal-refused", "staple-name", "../" + strings.Repeat("0", 40), false},
		{"user-ec2-user", "user", "ec2-user", true},
		{"user-one-letter", "user", "a", true},
		{"user-underscore-first", "user", "_svc", true},
		{"user-dollar-last", "user", "machine$", true},
		{"user-at-and-dot-inside", "user", "first.last@corp", true},
		{"user-32", "user", strings.Repeat("u", 32), true},
		{"user-33-refused", "user", strings.Repeat("u", 33), false},
		{"user-32-ending-in-dot-refused", "user", strings.Repeat("u", 31) + ".", false},
		{"user-31-ending-in-dot", "user", strings.Repeat("u", 30) + ".", true},
		{"user-32-ending-in-dollar", "user", strings.Repeat("u", 31) + "$", true},
		{"user-empty-refused", "user", "", false},
		{"user-digit-first-refused", "user", "1abc", false},
		{"user-dash-first-refused", "user", "-oProxyCommand", false},
		{"user-dollar-inside-refused", "user", "a$b", false},
		{"user-slash-refused", "user", "a/../b", false},
		{"user-newline-refused", "user", "root\n", false},
		{"user-non-ascii-refused", "user", "jos\u00e9", false},
		{"user-invalid-utf8-refused", "user", "ab\xff", false},
		{"meta-path-plain", "meta-path", "instance-id", true},
		{"meta-path-nested-trailing-slash", "meta-path", "placement/region/", true},
		{"meta-path-user-characters", "meta-path", "managed-ssh-keys/active-keys/a.b@c$/", true},
		{"meta-path-empty-refused", "meta-path", "", false},
		{"meta-path-slash-only-refused", "meta-path", "/", false},
		{"meta-path-absolute-refused", "meta-path", "/instance-id", false},
		{"meta-path-double-slash-refused", "meta-path", "placement//region", false},
		{"meta-path-two-trailing-slashes-refused", "meta-path", "placement/region//", false},
		{"meta-path-dot-segment-refused", "meta-path", "a/./b", false},
		{"meta-path-dotdot-segment-refused", "meta-path", "a/../b", false},
		{"meta-path-query-refused", "meta-path", "instance-id?x=1", false},
		{"meta-path-space-refused", "meta-path", "instance id", false},
		{"meta-path-percent-refused", "meta-path", "a%2f..%2fb", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shape(t, tc.shape)(tc.in); got != tc.want {
				t.Errorf("%s(%q) = %v, want %v", tc.shape, tc.in, got, tc.want)
			}
		})
	}
}

// TestShapesAgreeWithTheirExpressions compares each check with its expression on values
// mutated from valid ones and on runs of one byte at every length near the bounds, with a
// fixed seed so a failure reproduces.
func TestShapesAgreeWithTheirExpressions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			check := func(in string) {
				t.Helper()
				if got, want := s.valid(in), s.ref.MatchString(in); got != want {
					t.Fatalf("%s(%q) = %v, the expression says %v", s.name, in, got, want)
				}
			}
			for _, c := range []byte(interesting) {
				for n := range 260 {
					check(strings.Repeat(string(c), n))
					check("i-" + strings.Repeat(string(c), n))
					check("a" + strings.Repeat(string(c), n))
					check("a" + strings.Repeat(string(c), n) + "$")
				}
			}
			for range 20000 {
				check(mutate(rng, s.seeds[rng.IntN(len(s.seeds))]))
			}
		})
	}
}

// FuzzShapes checks every shape against its expression on arbitrary input.
func FuzzShapes(f *testing.F) {
	for _, s := range shapes {
		for _, seed := range s.seeds {
			f.Add(seed)
		}
	}
	f.Add("placement//")
	f.Add(strings.Repeat("u", 31) + ".")
	f.Fuzz(func(t *testing.T, in string) {
		for _, s := range shapes {
			if got, want := s.valid(in), s.ref.MatchString(in); got != want {
				t.Fatalf("%s(%q) = %v, the expression says %v", s.name, in, got, want)
			}
		}
	})
}

// interesting holds a byte from each side of every class boundary the shapes use.
const interesting = "aAzZfFgG09_-.@$/ \n\x00\x7f\xc3\xa9\xff~`{[:"

// mutate applies a few random edits: replace, insert, delete or duplicate a byte, or repeat the
// value, so lengths cross the bounds and classes meet at the ends.
func mutate(rng *rand.Rand, s string) string {
	b := []byte(s)
	for range 1 + rng.IntN(4) {
		c := interesting[rng.IntN(len(interesting))]
		switch i := rng.IntN(len(b) + 1); rng.IntN(5) {
		case 0:
			if i < len(b) {
				b[i] = c
			}
		case 1:
			b = append(b[:i], append([]byte{c}, b[i:]...)...)
		case 2:
			if i < len(b) {
				b = append(b[:i], b[i+1:]...)
			}
		case 3:
			if i < len(b) {
				b = append(b[:i+1], b[i:]...)
			}
		case 4:
			if len(b) < 300 {
				b = append(b, b...)
			}
		}
	}
	return string(b)
}
