package signer_test

// The other half of the differential test: OpenSSL's verdict on every vector, by the commands
// upstream's eic_parse_authorized_keys runs, must be the one the manifests record.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/eic-agent/eic-agent/agent/signer"
)

// opensslPath finds the openssl CLI. Missing, it fails the test in CI (where a skipped
// differential test would pass unnoticed) and skips it elsewhere.
func opensslPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("openssl CLI not found (%v): CI must run the OpenSSL differential test; install it (apt-get install openssl)", err)
	}
	t.Skipf("openssl CLI not found (%v); install it to run the OpenSSL differential test", err)
	return ""
}

// runOpenSSL runs openssl in the vector directory and returns its exit status and stdout.
func runOpenSSL(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	// The timeout only stops a hung openssl from hanging the suite; nothing relies on it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = vectorDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		t.Logf("openssl %s: exit %d\n%s%s", strings.Join(args, " "), exit.ExitCode(), stdout.String(), stderr.String())
		return exit.ExitCode(), stdout.String()
	case err != nil:
		t.Fatalf("run openssl: %v", err)
	}
	return 0, stdout.String()
}

// realClockDecides reports whether OpenSSL, which checks a staple's times against the real clock
// (-attime does not reach OCSP_check_validity), gives the verdict it would give at the vectors'
// time. Vectors are made so that it does, except in the minutes right after `make vectors`, when
// the stale staple's nextUpdate is still within the clock skew of the real time.
func realClockDecides(t *testing.T, der []byte) (bool, string) {
	t.Helper()
	resp, err := ocsp.ParseResponse(der, nil)
	if err != nil {
		return true, "" // OpenSSL refuses an unparseable response at any time
	}
	wall, margin := time.Now(), signer.ClockSkew+time.Minute
	switch {
	case wall.Before(resp.ThisUpdate.Add(-signer.ClockSkew + time.Minute)):
		return false, "the real clock is behind the vectors' thisUpdate " + resp.ThisUpdate.UTC().Format(time.RFC3339)
	case !resp.NextUpdate.IsZero() && wall.Before(resp.NextUpdate.Add(margin)) && wall.After(resp.NextUpdate.Add(-margin)):
		return false, "the vectors are fresh: the real clock is within the skew of nextUpdate " +
			resp.NextUpdate.UTC().Format(time.RFC3339) + "; OpenSSL's verdict is settled from " +
			resp.NextUpdate.Add(margin).UTC().Format(time.RFC3339)
	}
	return true, ""
}

func TestStapleVectorsAgainstOpenSSL(t *testing.T) {
	bin := opensslPath(t)
	now := strconv.FormatInt(vectorNow(t).Unix(), 10)
	for _, tc := range stapleCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			der := vectorFile(t, tc.staple+".der")
			if ok, why := realClockDecides(t, der); !ok {
				t.Skip(why)
			}
			cert, issuer, staple := tc.cert+".pem", tc.issuer+".pem", tc.staple+".der"
			code, out := runOpenSSL(t, bin, "ocsp", "-no_nonce", "-issuer", issuer, "-"+tc.certID, "-cert", cert,
				"-VAfile", issuer, "-respin", staple,
				"-CAfile", "root.pem", "-no-CApath", "-no-CAstore", "-attime", now)
			got := "refused"
			// Upstream's test, word for word: exit status 0 and output starting "CERT: good".
			if code == 0 && strings.HasPrefix(out, cert+": good") {
				got = "good"
			}
			if got != tc.openssl {
				t.Errorf("openssl ocsp on %s about %s from %s (%s CertID): %s, manifest says %s\n%s",
					staple, cert, issuer, tc.certID, got, tc.openssl, out)
			}
		})
	}
}

func TestChainVectorsAgainstOpenSSL(t *testing.T) {
	bin := opensslPath(t)
	now := strconv.FormatInt(vectorNow(t).Unix(), 10)
	for _, tc := range chainCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			leaf := tc.leaf + ".pem"
			args := []string{"verify", "-x509_strict", "-attime", now, "-CAfile", "root.pem", "-no-CApath", "-no-CAstore"}
			if inter := list(tc.inter); len(inter) > 0 {
				var doc []byte
				for _, n := range inter {
					doc = append(doc, vectorFile(t, n+".pem")...)
				}
				untrusted := filepath.Join(t.TempDir(), "untrusted.pem")
				if err := os.WriteFile(untrusted, doc, 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-untrusted", untrusted)
			}
			args = append(args, "-verify_hostname", tc.expected, leaf)
			code, out := runOpenSSL(t, bin, args...)
			got := "refused"
			if code == 0 && out == leaf+": OK\n" {
				got = "ok"
			}
			if got != tc.openssl {
				t.Errorf("openssl verify %s via %s for %s: %s, manifest says %s\n%s", leaf, tc.inter, tc.expected, got, tc.openssl, out)
			}
		})
	}
}
