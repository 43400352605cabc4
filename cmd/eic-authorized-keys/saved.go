package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/localfile"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/signer"
	"github.com/eic-agent/eic-agent/agent/truststore"
)

// savedFiles names the files of a case saved from IMDS (a support case or a test vector).
type savedFiles struct {
	Keys, SignerChain, OCSPDir, CA string
}

// maxSavedFile bounds every file read for a saved case, as IMDS bodies are bounded.
const maxSavedFile = 8 << 20

// saved is a lookup.Source over a saved case: the instance it was saved on, its bundle, and its
// signer verified once, at load, for the expected name given on the command line. verify runs
// it through lookup.Login, so a saved case gets exactly the decision a login would.
type saved struct {
	instanceID string
	bundle     lookup.Bundle
	bundleErr  error // the bundle does not parse at all
	sg         *signer.Signer
	sgErr      error
}

// loadSaved reads the files of a saved case and verifies its signer at now. Every file in the
// OCSP directory is one staple, whatever its name, base64 as IMDS serves it or raw DER. An error
// means the case cannot be read; an untrusted signer is a verdict, kept for Signer.
func loadSaved(f savedFiles, instanceID, expectedCN string, now time.Time) (*saved, error) {
	body, err := readBounded(f.Keys)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	blocks, bundleErr := bundle.Parse(body)
	chain, err := readBounded(f.SignerChain)
	if err != nil {
		return nil, fmt.Errorf("signer chain: %w", err)
	}
	staples, err := readStaples(f.OCSPDir)
	if err != nil {
		return nil, fmt.Errorf("ocsp dir: %w", err)
	}
	roots, _, err := truststore.Load(f.CA)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	s := &saved{instanceID: instanceID, bundle: lookup.Bundle{Blocks: blocks, Found: true}, bundleErr: bundleErr}
	s.sg, s.sgErr = verifySaved(chain, staples, roots, expectedCN, now)
	return s, nil
}

func verifySaved(chain []byte, staples [][]byte, roots *x509.CertPool, expectedCN string, now time.Time) (*signer.Signer, error) {
	sg, err := signer.Verify(signer.Input{ChainPEM: chain, Staples: staples, Roots: roots, ExpectedCN: expectedCN, Now: now})
	if err != nil {
		return nil, fmt.Errorf("untrusted signer: %w", err)
	}
	return sg, nil
}

func readStaples(dir string) ([][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		raw, err := readBounded(p)
		if err != nil {
			return nil, err
		}
		der, err := signer.DecodeStaple(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, der)
	}
	return out, nil
}

func readBounded(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("no file given")
	}
	b, err := localfile.Read(path, maxSavedFile, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// The lookup.Source methods: the case was saved for an existing user on an instance.

func (s *saved) UserExists(context.Context, string) (bool, error) { return true, nil }

func (s *saved) Identity(context.Context) (lookup.Identity, error) {
	return lookup.Identity{OnEC2: true, InstanceID: s.instanceID}, nil
}

func (s *saved) Bundle(context.Context, string, *lookup.Bundle) (*lookup.Bundle, error) {
	if s.bundleErr != nil {
		return nil, fmt.Errorf("key bundle: %w", s.bundleErr)
	}
	return &s.bundle, nil
}

func (s *saved) Signer(context.Context) (*signer.Signer, error) { return s.sg, s.sgErr }

func (s *saved) Recheck(_ context.Context, sg *signer.Signer, _ *lookup.Bundle, _ [][32]byte) (*signer.Signer, error) {
	return sg, nil
}

// explain renders one verdict line for the signer and one per block, for --explain, after the
// login's own error when it could not complete. The signer line says what the saved signer is
// worth even when the login needed none.
func (s *saved) explain(res lookup.Result, err error) []string {
	var out []string
	if err != nil && !errors.Is(err, s.sgErr) {
		out = append(out, "login: FAILED: "+err.Error())
	}
	if s.sgErr != nil {
		out = append(out, "signer: UNTRUSTED: "+s.sgErr.Error())
	} else {
		out = append(out, fmt.Sprintf("signer: trusted: %s (chain of %d to %q, staples valid until %s)",
			s.sg.Chain[0].Subject.CommonName, len(s.sg.Chain),
			s.sg.Chain[len(s.sg.Chain)-1].Subject.CommonName,
			s.sg.NextUpdate.UTC().Format(time.RFC3339)))
	}
	for _, b := range s.bundle.Blocks {
		out = append(out, explainBlock(res, err, b))
	}
	if len(s.bundle.Blocks) == 0 {
		out = append(out, "bundle: no blocks")
	}
	return out
}

func explainBlock(res lookup.Result, err error, b bundle.Block) string {
	head := fmt.Sprintf("block %d (line %d): ", b.Index+1, b.Line)
	if i := slices.IndexFunc(res.Accepted, func(a keys.Accepted) bool { return a.Block == b.Index }); i >= 0 {
		a := res.Accepted[i]
		typ, _, _ := strings.Cut(a.Line, " ")
		return head + fmt.Sprintf("accepted %s %s caller=%s request=%s expires=%s",
			typ, a.Fingerprint, a.Caller, a.RequestID, a.Expires.UTC().Format(time.RFC3339))
	}
	if i := slices.IndexFunc(res.Rejected, func(r keys.Rejected) bool { return r.Block == b.Index }); i >= 0 {
		r := res.Rejected[i]
		s := head + "rejected: " + string(r.Reason)
		if r.Detail != "" {
			s += ": " + r.Detail
		}
		return s
	}
	if err == nil && res.Outcome == lookup.Verified {
		return head + "accepted (same key as an earlier block)"
	}
	return head + "not judged: the login ended before the blocks were"
}
