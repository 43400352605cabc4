package signer_test

// The OpenSSL-made vector set: certificates and staples made by the openssl CLI
// (testdata/mkvectors.sh, `make vectors`), and hand-kept manifests saying what each must do.
// These tests hold our verdicts to the manifests; vectors_openssl_test.go holds OpenSSL's to them.
// Together: we agree with OpenSSL on every vector, except the differences the manifests list.

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/signer"
)

const vectorDir = "testdata/vectors"

// vectorNow is the fixed verification time the generator wrote.
func vectorNow(t *testing.T) time.Time {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, "now"))
	if err != nil {
		t.Fatalf("read the vectors' time: %v (regenerate with make vectors)", err)
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("vectors/now: %v", err)
	}
	return time.Unix(sec, 0)
}

func vectorFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatalf("vector %s: %v (regenerate with make vectors)", name, err)
	}
	return b
}

func vectorCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(vectorFile(t, name+".pem"))
	if block == nil || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("vector %s.pem: want exactly one PEM certificate", name)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("vector %s.pem: %v", name, err)
	}
	return c
}

func vectorRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(vectorCert(t, "root"))
	return pool
}

// chainDoc is the signer-cert document made of the named certificates, in order.
func chainDoc(t *testing.T, names ...string) []byte {
	t.Helper()
	var doc []byte
	for _, n := range names {
		doc = append(doc, vectorFile(t, n+".pem")...)
	}
	return doc
}

// list splits a manifest's comma-separated field; "-" is the empty list.
func list(field string) []string {
	if field == "-" {
		return nil
	}
	return strings.Split(field, ",")
}

// readManifest reads a tab-separated manifest in testdata: '#' lines are comments, every row has
// exactly cols non-empty fields.
func readManifest(t *testing.T, name string, cols int) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != cols {
			t.Fatalf("%s:%d: %d fields, want %d", name, i+1, len(f), cols)
		}
		for j, v := range f {
			if v == "" {
				t.Fatalf("%s:%d: field %d is empty (write - for none)", name, i+1, j+1)
			}
		}
		if seen[f[0]] {
			t.Fatalf("%s:%d: case %q appears twice", name, i+1, f[0])
		}
		seen[f[0]] = true
		rows = append(rows, f)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no cases", name)
	}
	return rows
}

// verdict is "good"/"ok" for a nil error, otherwise the *signer.Error's Reason.
func verdict(ok string, err error) string {
	if err == nil {
		return ok
	}
	var e *signer.Error
	if errors.As(err, &e) {
		return string(e.Reason)
	}
	return "not a *signer.Error: " + err.Error()
}

// stapleCase is one row of staples.tsv.
type stapleCase struct {
	name, cert, issuer, staple, certID, ours, openssl, why string
}

func stapleCases(t *testing.T) []stapleCase {
	t.Helper()
	var out []stapleCase
	for _, f := range readManifest(t, "staples.tsv", 8) {
		c := stapleCase{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]}
		checkDifference(t, "staples.tsv", c.name, c.ours == "good", c.openssl, "good", c.why)
		out = append(out, c)
	}
	return out
}

// chainCase is one row of chains.tsv.
type chainCase struct {
	name, leaf, inter, expected, ours, openssl, why string
}

func chainCases(t *testing.T) []chainCase {
	t.Helper()
	var out []chainCase
	for _, f := range readManifest(t, "chains.tsv", 7) {
		c := chainCase{f[0], f[1], f[2], f[3], f[4], f[5], f[6]}
		checkDifference(t, "chains.tsv", c.name, c.ours == "ok", c.openssl, "ok", c.why)
		out = append(out, c)
	}
	return out
}

// checkDifference keeps the list of deliberate differences honest: a row explains itself exactly
// when our verdict and OpenSSL's differ.
func checkDifference(t *testing.T, manifest, name string, oursAccepts bool, openssl, accept, why string) {
	t.Helper()
	if openssl != accept && openssl != "refused" {
		t.Fatalf("%s: %s: openssl verdict %q, want %q or refused", manifest, name, openssl, accept)
	}
	differ := oursAccepts != (openssl == accept)
	switch {
	case differ && why == "-":
		t.Fatalf("%s: %s: our verdict and OpenSSL's differ, but the row gives no reason", manifest, name)
	case !differ && why != "-":
		t.Fatalf("%s: %s: the row explains a difference, but both verdicts agree", manifest, name)
	}
}

func TestStapleVectors(t *testing.T) {
	now := vectorNow(t)
	for _, tc := range stapleCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			cert, issuer := vectorCert(t, tc.cert), vectorCert(t, tc.issuer)
			res, err := signer.CheckStaple(vectorFile(t, tc.staple+".der"), cert, issuer, now)
			if got := verdict("good", err); got != tc.ours {
				t.Fatalf("CheckStaple(%s about %s from %s) = %s, want %s (error: %v)", tc.staple, tc.cert, tc.issuer, got, tc.ours, err)
			}
			if err == nil && !res.NextUpdate.After(now) {
				t.Errorf("good staple's NextUpdate %v is not after now %v", res.NextUpdate, now)
			}
		})
	}
}

func TestChainVectors(t *testing.T) {
	now, roots := vectorNow(t), vectorRoots(t)
	for _, tc := range chainCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			chains, err := signer.VerifyChain(signer.Input{
				ChainPEM:   chainDoc(t, append([]string{tc.leaf}, list(tc.inter)...)...),
				Roots:      roots,
				ExpectedCN: tc.expected,
				Now:        now,
			})
			if got := verdict("ok", err); got != tc.ours {
				t.Fatalf("VerifyChain(%s via %s for %s) = %s, want %s (error: %v)", tc.leaf, tc.inter, tc.expected, got, tc.ours, err)
			}
			if err != nil {
				return
			}
			leaf, root := vectorCert(t, tc.leaf), vectorCert(t, "root")
			for _, c := range chains {
				if !c[0].Equal(leaf) || !c[len(c)-1].Equal(root) {
					t.Errorf("chain %s ... %s, want %s ... root", c[0].Subject, c[len(c)-1].Subject, tc.leaf)
				}
			}
		})
	}
}

func TestVerifyVectors(t *testing.T) {
	now, roots := vectorNow(t), vectorRoots(t)
	for _, f := range readManifest(t, "verify.tsv", 5) {
		name, chain, staples, expected, want := f[0], list(f[1]), list(f[2]), f[3], f[4]
		t.Run(name, func(t *testing.T) {
			var ders [][]byte
			for _, s := range staples {
				ders = append(ders, vectorFile(t, s+".der"))
			}
			s, err := signer.Verify(signer.Input{
				ChainPEM:   chainDoc(t, chain...),
				Staples:    ders,
				Roots:      roots,
				ExpectedCN: expected,
				Now:        now,
			})
			if got := verdict("ok", err); got != want {
				t.Fatalf("Verify(%v with staples %v for %s) = %s, want %s (error: %v)", chain, staples, expected, got, want, err)
			}
			if err != nil {
				return
			}
			leaf := vectorCert(t, chain[0])
			switch {
			case !s.Chain[0].Equal(leaf):
				t.Errorf("verified chain starts at %s, want %s", s.Chain[0].Subject, chain[0])
			case !s.Key.Equal(leaf.PublicKey):
				t.Errorf("signer key is not %s's key", chain[0])
			case !s.NextUpdate.After(now) || !s.NotAfter.After(now):
				t.Errorf("signer usable until NextUpdate %v / NotAfter %v, want both after now %v", s.NextUpdate, s.NotAfter, now)
			}
		})
	}
}

// TestVectorSetCovered fails when a generated certificate or staple is in no manifest: a vector
// nothing asserts about is a case nobody checks.
func TestVectorSetCovered(t *testing.T) {
	used := map[string]bool{"root.pem": true}
	for _, c := range stapleCases(t) {
		used[c.cert+".pem"], used[c.issuer+".pem"], used[c.staple+".der"] = true, true, true
	}
	for _, c := range chainCases(t) {
		used[c.leaf+".pem"] = true
		for _, n := range list(c.inter) {
			used[n+".pem"] = true
		}
	}
	for _, f := range readManifest(t, "verify.tsv", 5) {
		for _, n := range list(f[1]) {
			used[n+".pem"] = true
		}
		for _, n := range list(f[2]) {
			used[n+".der"] = true
		}
	}
	entries, err := os.ReadDir(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n := e.Name()
		if (strings.HasSuffix(n, ".pem") || strings.HasSuffix(n, ".der")) && !used[n] {
			t.Errorf("vectors/%s is in no manifest (staples.tsv, chains.tsv or verify.tsv)", n)
		}
	}
}
