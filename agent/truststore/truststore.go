// Package truststore loads the root certificates that signer chains must verify to: from the
// system's usual locations, a PEM bundle file or a directory of PEM files.
//
// Contract: it never reads environment variables (so no x509.SystemCertPool, which honours
// SSL_CERT_FILE and SSL_CERT_DIR: sshd empties the environment anyway, and trust must not depend
// on it). Every file read is bounded by MaxFileSize. Loading zero certificates is an error, never
// an empty pool: an empty pool would reject everything silently, a nil one would mean "system".
package truststore

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/eic-agent/eic-agent/agent/localfile"
)

// MaxFileSize bounds each file read. Distribution bundles are about 200 KiB.
const MaxFileSize = 16 << 20

// MaxDirEntries bounds how many entries of a directory are looked at.
const MaxDirEntries = 10000

// SystemFiles are the usual bundle files, in the order tried.
func SystemFiles() []string {
	return []string{
		"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Alpine
		"/etc/pki/tls/certs/ca-bundle.crt",                  // RHEL, Fedora, Amazon Linux
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL 7+, AL2
		"/etc/ssl/ca-bundle.pem",                            // SUSE
		"/etc/ssl/cert.pem",                                 // Alpine, BSD-likes
	}
}

// SystemDirs are the usual certificate directories, tried when no bundle file is usable.
func SystemDirs() []string {
	return []string{"/etc/ssl/certs"}
}

// Load loads the trust store at path: "" means the system store (see LoadSystemRoots), otherwise a
// PEM bundle file or a directory of PEM files. It returns the pool and a short description of
// where it came from, for logs and doctor.
func Load(path string) (*x509.CertPool, string, error) {
	if path == "" {
		return LoadSystemRoots(SystemFiles(), SystemDirs())
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("load trust store %s: %w (set truststore in the config to a PEM bundle or a directory)", path, err)
	}
	var l loader
	var what string
	switch {
	case st.IsDir():
		if err := l.addDir(path); err != nil {
			return nil, "", fmt.Errorf("load trust store %s: %w", path, err)
		}
		what = l.describe(path)
	case st.Mode().IsRegular():
		if err := l.addFile(path); err != nil {
			return nil, "", fmt.Errorf("load trust store %s: %w", path, err)
		}
		what = path + " (" + certCount(l.n) + ")"
	default:
		return nil, "", fmt.Errorf("load trust store %s: not a regular file or directory (set truststore in the config to a PEM bundle or a directory)", path)
	}
	if l.n == 0 {
		return nil, "", fmt.Errorf("load trust store %s: no PEM certificates found (point truststore in the config at a PEM bundle or a directory of PEM files)", path)
	}
	return l.pool, what, nil
}

// LoadSystemRoots loads the first of files that exists, is not empty and holds certificates; else
// the first of dirs that holds certificates. Tests pass a fake layout.
func LoadSystemRoots(files, dirs []string) (*x509.CertPool, string, error) {
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
			continue
		}
		var l loader
		if err := l.addFile(f); err == nil && l.n > 0 {
			return l.pool, f + " (" + certCount(l.n) + ")", nil
		}
	}
	for _, d := range dirs {
		var l loader
		if err := l.addDir(d); err == nil && l.n > 0 {
			return l.pool, l.describe(d), nil
		}
	}
	tried := strings.Join(append(append([]string(nil), files...), dirs...), ", ")
	return nil, "", fmt.Errorf("load system trust store: no certificates in %s (install the ca-certificates package or set truststore in the config)", tried)
}

// loader accumulates certificates, counting each distinct one once: /etc/ssl/certs holds every
// root several times (the bundle, the file and its hash links).
type loader struct {
	pool  *x509.CertPool
	seen  map[[32]byte]bool
	n     int // distinct certificates added
	files int // files that contributed at least one certificate
}

func certCount(n int) string {
	if n == 1 {
		return "1 certificate"
	}
	return fmt.Sprintf("%d certificates", n)
}

func (l *loader) describe(dir string) string {
	return fmt.Sprintf("%s (%s from %d files)", dir, certCount(l.n), l.files)
}

func (l *loader) addDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	entries, err := f.ReadDir(MaxDirEntries + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if len(entries) > MaxDirEntries {
		return fmt.Errorf("more than %d entries", MaxDirEntries)
	}
	for _, e := range entries {
		// Regular files and symlinks to them; unreadable, oversized and non-PEM files are skipped
		// because certificate directories hold other things too.
		if t := e.Type(); t != 0 && t != fs.ModeSymlink {
			continue
		}
		_ = l.addFile(filepath.Join(dir, e.Name()))
	}
	return nil
}

func (l *loader) addFile(path string) error {
	data, err := localfile.Read(path, MaxFileSize, nil)
	if err != nil {
		return err
	}
	if l.pool == nil {
		l.pool, l.seen = x509.NewCertPool(), map[[32]byte]bool{}
	}
	added := false
	// Text between PEM blocks (comments, openssl's readable dumps) is allowed in bundles.
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" || len(b.Headers) != 0 {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			continue // one broken entry must not cost every other root
		}
		added = true
		sum := sha256.Sum256(c.Raw)
		if l.seen[sum] {
			continue
		}
		l.seen[sum] = true
		l.pool.AddCert(c)
		l.n++
	}
	if added {
		l.files++
	}
	return nil
}
