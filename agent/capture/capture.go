// Package capture saves what IMDS serves for one login (the user's key bundle, the signer chain
// and its staples, the instance id, the placement, the service domain) and the time, in the
// layout `eic-authorized-keys verify` reads, so that a failing login can be replayed offline
// and attached to a support ticket.
//
// Contract: it only reads IMDS, through the bounded client it is given, and writes only into
// a directory that is new or empty (it never overwrites anything): files 0644 in a 0755
// directory. It judges nothing: whatever IMDS served is saved as served, and verify decides.
// The replay command it writes names the expected signer only when the domain is on the
// allow-list, so a capture never suggests trusting a name built from an unchecked domain.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/eic-agent/eic-agent/agent/imds"
	"github.com/eic-agent/eic-agent/agent/localfile"
	"github.com/eic-agent/eic-agent/agent/signer"
	"github.com/eic-agent/eic-agent/agent/truststore"
)

// The files of a capture, relative to its directory.
const (
	KeysFile     = "keys"
	ChainFile    = "signer-chain.pem"
	OCSPDir      = "ocsp"
	CAFile       = "ca.pem"
	ManifestFile = "manifest.json"
	ReadmeFile   = "README"
)

// Config says what to capture and where. Client, User and Dir are required.
type Config struct {
	Client *imds.Client
	User   string
	Dir    string
	// CA is trust.ca: a file is copied into the capture; a directory is named in the replay
	// command; "" means the system bundle, which is copied.
	CA string
	// Domains is the service domain allow-list (config.AllowedDomains).
	Domains []string
	// Now is the clock (default time.Now); the capture's time is read just after the bundle.
	Now func() time.Time
}

// Manifest describes a capture; it is saved as manifest.json.
type Manifest struct {
	User             string    `json:"user"`
	InstanceID       string    `json:"instance_id"`
	Region           string    `json:"region"`
	AvailabilityZone string    `json:"availability_zone"`
	Domain           string    `json:"domain"`
	CapturedAt       time.Time `json:"captured_at"`
	CapturedAtUnix   int64     `json:"captured_at_unix"`
	KeysFound        bool      `json:"keys_found"`
	Staples          []string  `json:"staples"`
	ExpectedSigner   string    `json:"expected_signer"`
	CA               string    `json:"ca"`
	// Replay is the verify command line, run in the capture's directory; empty when the
	// domain is not allowed (a login would do nothing).
	Replay []string `json:"replay"`
	Notes  []string `json:"notes"`
}

// served is everything fetched, before anything is written.
type served struct {
	m       Manifest
	keys    []byte
	chain   []byte
	staples map[string][]byte
}

// Capture fetches, then writes. A failed fetch writes nothing (the directory is left empty).
func Capture(ctx context.Context, cfg Config) (Manifest, error) {
	if cfg.Client == nil || cfg.User == "" || cfg.Dir == "" {
		return Manifest{}, errors.New("capture: client, user and directory are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := emptyDir(cfg.Dir); err != nil {
		return Manifest{}, err
	}
	s, err := fetch(ctx, cfg)
	if err != nil {
		return Manifest{}, err
	}
	if err := s.write(cfg); err != nil {
		return Manifest{}, err
	}
	return s.m, nil
}

// emptyDir makes dir (0755) or accepts it when it exists, is a directory and is empty.
func emptyDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("capture directory: %w", err)
		}
		return os.Chmod(dir, 0o755)
	case err != nil:
		return fmt.Errorf("capture directory: %w", err)
	case !st.IsDir():
		return fmt.Errorf("capture directory %s: not a directory; name a new or empty directory", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("capture directory: %w", err)
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != io.EOF {
		if err == nil {
			return fmt.Errorf("capture directory %s is not empty; name a new or empty directory (nothing is overwritten)", dir)
		}
		return fmt.Errorf("capture directory: %w", err)
	}
	return os.Chmod(dir, 0o755)
}

// fetch asks IMDS in a login's order: the instance, the user's bundle (then the time), the
// placement and domain, the chain and the staples.
func fetch(ctx context.Context, cfg Config) (*served, error) {
	c := cfg.Client
	s := &served{m: Manifest{User: cfg.User}, staples: map[string][]byte{}}
	var err error
	if s.m.InstanceID, err = c.InstanceID(ctx); err != nil {
		return nil, fmt.Errorf("capture instance id: %w", err)
	}
	s.keys, err = c.Keys(ctx, cfg.User)
	switch {
	case errors.Is(err, imds.ErrNotFound):
		s.m.Notes = append(s.m.Notes, fmt.Sprintf("IMDS has no keys for %s (404): nothing was pushed for this user in the last 60 seconds", cfg.User))
	case err != nil:
		return nil, fmt.Errorf("capture keys for %s: %w", cfg.User, err)
	default:
		s.m.KeysFound = true
	}
	now := cfg.Now()
	s.m.CapturedAt, s.m.CapturedAtUnix = now.UTC().Truncate(time.Second), now.Unix()
	if s.m.Region, err = c.Region(ctx); err != nil {
		return nil, fmt.Errorf("capture region: %w", err)
	}
	if s.m.AvailabilityZone, err = c.Zone(ctx); err != nil {
		return nil, fmt.Errorf("capture availability zone: %w", err)
	}
	if s.m.Domain, err = c.Domain(ctx); err != nil {
		return nil, fmt.Errorf("capture domain: %w", err)
	}
	if s.chain, err = c.SignerChain(ctx); err != nil {
		return nil, fmt.Errorf("capture signer chain: %w", err)
	}
	names, err := c.StapleNames(ctx)
	if err != nil {
		return nil, fmt.Errorf("capture staple list: %w", err)
	}
	for _, n := range names {
		if s.staples[n], err = c.Staple(ctx, n); err != nil {
			return nil, fmt.Errorf("capture staple %s: %w", n, err)
		}
		s.m.Staples = append(s.m.Staples, n)
	}
	if slices.Contains(cfg.Domains, s.m.Domain) {
		s.m.ExpectedSigner = signer.ExpectedCN(s.m.Region, s.m.Domain)
	} else {
		s.m.Notes = append(s.m.Notes, fmt.Sprintf("service domain %q is not on the allow-list: a login does nothing, and no replay command is given", s.m.Domain))
	}
	return s, nil
}

func (s *served) write(cfg Config) error {
	put := func(rel string, data []byte) error { return writeNew(filepath.Join(cfg.Dir, rel), data) }
	if err := put(KeysFile, s.keys); err != nil {
		return err
	}
	if err := put(ChainFile, s.chain); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(cfg.Dir, OCSPDir), 0o755); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if err := os.Chmod(filepath.Join(cfg.Dir, OCSPDir), 0o755); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	for _, n := range s.m.Staples {
		if err := put(filepath.Join(OCSPDir, n), s.staples[n]); err != nil {
			return err
		}
	}
	ca, err := s.saveCA(cfg, put)
	if err != nil {
		return err
	}
	s.m.CA = ca
	if s.m.ExpectedSigner != "" {
		s.m.Replay = []string{"eic-authorized-keys", "verify", "--keys", KeysFile, "--signer-chain", ChainFile,
			"--ocsp-dir", OCSPDir, "--ca", ca, "--instance-id", s.m.InstanceID,
			"--expected-signer", s.m.ExpectedSigner, "--user", s.m.User,
			"--now", strconv.FormatInt(s.m.CapturedAtUnix, 10), "--explain"}
	}
	if s.m.Staples == nil {
		s.m.Staples = []string{}
	}
	if s.m.Notes == nil {
		s.m.Notes = []string{}
	}
	man, err := s.m.json()
	if err != nil {
		return err
	}
	if err := put(ManifestFile, man); err != nil {
		return err
	}
	return put(ReadmeFile, []byte(s.m.readme()))
}

// saveCA copies the trust store's bundle into the capture, so the replay needs nothing of this
// host; a directory store is named by its path instead.
func (s *served) saveCA(cfg Config, put func(string, []byte) error) (string, error) {
	src := cfg.CA
	if src == "" {
		for _, f := range truststore.SystemFiles() {
			if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
				src = f
				break
			}
		}
		if src == "" {
			src = truststore.SystemDirs()[0]
		}
	}
	st, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("capture trust store: %w", err)
	}
	if st.IsDir() {
		s.m.Notes = append(s.m.Notes, "the trust store is the directory "+src+": replay on a host with the same roots")
		return src, nil
	}
	b, err := localfile.Read(src, truststore.MaxFileSize, nil)
	if err != nil {
		return "", fmt.Errorf("capture trust store: %w", err)
	}
	return CAFile, put(CAFile, b)
}

// writeNew creates path (never replacing a file) with mode 0644 whatever the umask.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Chmod(0o644)
	if err := errors.Join(werr, cerr, f.Close()); err != nil {
		return fmt.Errorf("capture %s: %w", path, err)
	}
	return nil
}
