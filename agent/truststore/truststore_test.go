package truststore

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pemOf(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// layout creates files under a temp dir: a value of "->target" makes a symlink, "fifo" a FIFO,
// "dir/" a directory, "huge" a file over MaxFileSize; anything else is file content.
func layout(t *testing.T, files map[string][]byte) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch s := string(content); {
		case strings.HasPrefix(s, "->"):
			err = os.Symlink(s[2:], p)
		case s == "fifo":
			err = syscall.Mkfifo(p, 0o644)
		case s == "dir/":
			err = os.MkdirAll(p, 0o755)
		case s == "huge":
			// A certificate followed by a sparse tail: too large, though it starts well.
			if err = os.WriteFile(p, pemOf(selfSigned(t, "huge")), 0o644); err == nil {
				err = os.Truncate(p, MaxFileSize+1)
			}
		default:
			err = os.WriteFile(p, content, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLoad(t *testing.T) {
	a, b, c := selfSigned(t, "root A"), selfSigned(t, "root B"), selfSigned(t, "root C")
	comment := []byte("# Amazon Root CA 1\nsubject=CN = root\n")
	oversized := []byte("huge")
	tests := []struct {
		name     string
		files    map[string][]byte
		path     string // relative to the layout
		want     *x509.CertPool
		wantDesc string // suffix of the description
		wantErr  string // substring of the error; "" = success
	}{
		{
			name:     "bundle-with-comments-loaded",
			files:    map[string][]byte{"bundle.pem": bytes.Join([][]byte{comment, pemOf(a), comment, pemOf(b), comment}, nil)},
			path:     "bundle.pem",
			want:     poolOf(a, b),
			wantDesc: "bundle.pem (2 certificates)",
		},
		{
			name: "bundle-skips-other-blocks-and-broken-certs",
			files: map[string][]byte{"bundle.pem": bytes.Join([][]byte{
				pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}),
				pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("broken")}),
				pemOf(a)}, nil)},
			path:     "bundle.pem",
			want:     poolOf(a),
			wantDesc: "bundle.pem (1 certificate)",
		},
		{
			name: "directory-loaded-without-hash-links",
			files: map[string][]byte{
				"certs/a.pem":       pemOf(a),
				"certs/b.crt":       pemOf(b, a),
				"certs/1234abcd.0":  []byte("->a.pem"),
				"certs/README":      []byte("not a certificate"),
				"certs/dangling":    []byte("->nowhere"),
				"certs/pipe":        []byte("fifo"),
				"certs/pipe-link":   []byte("->pipe"),
				"certs/sub/":        []byte("dir/"),
				"certs/sub/c.pem":   pemOf(c),
				"certs/huge.pem":    oversized,
				"certs/dir-link":    []byte("->sub"),
				"certs/devnull-lnk": []byte("->/dev/null"),
			},
			path:     "certs",
			want:     poolOf(a, b),
			wantDesc: "certs (2 certificates from 3 files)",
		},
		{
			name:    "empty-file-rejected",
			files:   map[string][]byte{"empty.pem": {}},
			path:    "empty.pem",
			wantErr: "no PEM certificates found",
		},
		{
			name:    "non-pem-file-rejected",
			files:   map[string][]byte{"x.der": a.Raw},
			path:    "x.der",
			wantErr: "no PEM certificates found",
		},
		{
			name:    "oversized-file-rejected",
			files:   map[string][]byte{"huge.pem": oversized},
			path:    "huge.pem",
			wantErr: "larger than",
		},
		{
			name:    "directory-without-certificates-rejected",
			files:   map[string][]byte{"d/README": []byte("hello")},
			path:    "d",
			wantErr: "no PEM certificates found",
		},
		{
			name:    "missing-path-rejected",
			path:    "nope.pem",
			wantErr: "no such file",
		},
		{
			name:    "fifo-rejected-without-hanging",
			files:   map[string][]byte{"pipe": []byte("fifo")},
			path:    "pipe",
			wantErr: "not a regular file or directory",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := layout(t, tc.files)
			pool, desc, err := Load(filepath.Join(root, tc.path))
			check(t, pool, desc, err, tc.want, tc.wantDesc, tc.wantErr)
		})
	}
}

func TestLoadSystemRoots(t *testing.T) {
	a, b := selfSigned(t, "root A"), selfSigned(t, "root B")
	tests := []struct {
		name     string
		files    map[string][]byte
		want     *x509.CertPool
		wantDesc string
		wantErr  string
	}{
		{
			name: "first-usable-file-wins",
			files: map[string][]byte{
				"f2":          {},
				"f3":          []byte("no certificates here"),
				"f4":          pemOf(a),
				"f5":          pemOf(b),
				"certs/b.pem": pemOf(b),
			},
			want:     poolOf(a),
			wantDesc: "f4 (1 certificate)",
		},
		{
			name:     "directory-used-when-no-file",
			files:    map[string][]byte{"f3": []byte("junk"), "certs/a.pem": pemOf(a), "certs/b.pem": pemOf(b)},
			want:     poolOf(a, b),
			wantDesc: "certs (2 certificates from 2 files)",
		},
		{
			name:    "nothing-usable-rejected",
			files:   map[string][]byte{"f2": {}, "certs/README": []byte("x")},
			wantErr: "install the ca-certificates package",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := layout(t, tc.files)
			var files []string
			for _, f := range []string{"f1", "f2", "f3", "f4", "f5"} {
				files = append(files, filepath.Join(root, f))
			}
			pool, desc, err := LoadSystemRoots(files, []string{filepath.Join(root, "missing"), filepath.Join(root, "certs")})
			check(t, pool, desc, err, tc.want, tc.wantDesc, tc.wantErr)
		})
	}
}

func check(t *testing.T, pool *x509.CertPool, desc string, err error, want *x509.CertPool, wantDesc, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("got error %v, want one containing %q", err, wantErr)
		}
		if pool != nil {
			t.Errorf("got a pool along with error %v", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("got error %v, want success", err)
	}
	if !pool.Equal(want) {
		t.Errorf("pool holds other certificates than wanted")
	}
	if !strings.HasSuffix(desc, wantDesc) {
		t.Errorf("description: got %q, want suffix %q", desc, wantDesc)
	}
}
