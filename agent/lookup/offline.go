package lookup

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/eic-agent/eic-agent/agent/bundle"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/localfile"
	"github.com/eic-agent/eic-agent/agent/signer"
	"github.com/eic-agent/eic-agent/agent/truststore"
)

// Saved is a bundle and its signer material as saved from IMDS, for support cases and test
// vectors: the same verification as a login, without the network.
type Saved struct {
	Bundle      []byte
	Chain       []byte
	Staples     [][]byte
	Roots       *x509.CertPool
	InstanceID  string
	ExpectedCN  string
	Fingerprint *keys.Fingerprint
	Now         time.Time
}

// SavedFiles names the files of a saved case.
type SavedFiles struct {
	Keys, SignerChain, OCSPDir, CA string
}

// maxSavedFile bounds every file read for a saved case, as IMDS bodies are bounded.
const maxSavedFile = 8 << 20

// LoadSaved reads the files of a saved case. Every file in the OCSP directory is one staple,
// whatever its name, base64 as IMDS serves it or raw DER.
func LoadSaved(f SavedFiles) (Saved, error) {
	var s Saved
	var err error
	if s.Bundle, err = readBounded(f.Keys); err != nil {
		return s, fmt.Errorf("keys: %w", err)
	}
	if s.Chain, err = readBounded(f.SignerChain); err != nil {
		return s, fmt.Errorf("signer chain: %w", err)
	}
	entries, err := os.ReadDir(f.OCSPDir)
	if err != nil {
		return s, fmt.Errorf("ocsp dir: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(f.OCSPDir, e.Name())
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		raw, err := readBounded(p)
		if err != nil {
			return s, fmt.Errorf("ocsp dir: %w", err)
		}
		der, err := signer.DecodeStaple(raw)
		if err != nil {
			return s, fmt.Errorf("ocsp dir: %s: %w", p, err)
		}
		s.Staples = append(s.Staples, der)
	}
	if s.Roots, _, err = truststore.Load(f.CA); err != nil {
		return s, fmt.Errorf("ca: %w", err)
	}
	return s, nil
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

// VerifySaved runs the signer and block checks of a login on a saved case. A non-nil error
// means the bundle as a whole could not be trusted (Result.Rejected then says so per block).
func VerifySaved(s Saved) (Result, error) {
	res := Result{Outcome: Verified}
	blocks, err := bundle.Parse(s.Bundle)
	if err != nil {
		return res, fmt.Errorf("key bundle: %w", err)
	}
	res.Blocks = blocks
	sg, err := signer.Verify(signer.Input{
		ChainPEM:   s.Chain,
		Staples:    s.Staples,
		Roots:      s.Roots,
		ExpectedCN: s.ExpectedCN,
		Now:        s.Now,
	})
	if err != nil {
		err = fmt.Errorf("untrusted signer: %w", err)
		res.Rejected = Untrusted(blocks, err)
		return res, err
	}
	res.Signer = sg
	res.Accepted, res.Rejected = keys.Evaluate(keys.Input{
		Blocks:      blocks,
		SignerKey:   sg.Key,
		InstanceID:  s.InstanceID,
		Now:         s.Now,
		Fingerprint: s.Fingerprint,
	})
	return res, nil
}

// Explain renders one verdict line per block (and one for the signer), for --explain.
func Explain(res Result, verifyErr error) []string {
	var out []string
	if verifyErr != nil {
		out = append(out, "signer: UNTRUSTED: "+verifyErr.Error())
	} else if res.Signer != nil && len(res.Signer.Chain) > 0 {
		out = append(out, fmt.Sprintf("signer: trusted: %s (chain of %d to %q, staples valid until %s)",
			res.Signer.Chain[0].Subject.CommonName, len(res.Signer.Chain),
			res.Signer.Chain[len(res.Signer.Chain)-1].Subject.CommonName,
			res.Signer.NextUpdate.UTC().Format(time.RFC3339)))
	}
	for _, b := range res.Blocks {
		out = append(out, explainBlock(res, b))
	}
	if len(res.Blocks) == 0 {
		out = append(out, "bundle: no blocks")
	}
	return out
}

func explainBlock(res Result, b bundle.Block) string {
	head := fmt.Sprintf("block %d (line %d): ", b.Index+1, b.Line)
	if i := slices.IndexFunc(res.Accepted, func(a keys.Accepted) bool { return a.Block == b.Index }); i >= 0 {
		a := res.Accepted[i]
		return head + fmt.Sprintf("accepted %s %s caller=%s request=%s expires=%s",
			keyType(a.Line), a.Fingerprint, a.Caller, a.RequestID, a.Expires.UTC().Format(time.RFC3339))
	}
	if i := slices.IndexFunc(res.Rejected, func(r keys.Rejected) bool { return r.Block == b.Index }); i >= 0 {
		r := res.Rejected[i]
		s := head + "rejected: " + string(r.Reason)
		if r.Detail != "" {
			s += ": " + r.Detail
		}
		return s
	}
	return head + "accepted (same key as an earlier block)"
}
