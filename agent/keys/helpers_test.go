package keys_test

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

const (
	instanceID = "i-0123456789abcdef0"
	caller     = "arn:aws:iam::123456789012:user/alice"
	requestID  = "1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d"
)

var now = time.Unix(1_750_000_000, 0)

// Keys are expensive (RSA-3072, the PKI): make them once per test binary.
var (
	testSigner = sync.OnceValues(func() (*rsa.PrivateKey, error) {
		p, err := pki.New(pki.Options{Now: now})
		if err != nil {
			return nil, err
		}
		return p.SignerKey(), nil
	})
	foreignSigner = sync.OnceValues(func() (*rsa.PrivateKey, error) {
		return rsa.GenerateKey(rand.Reader, 2048)
	})
	testKeys = sync.OnceValues(makeKeys)
)

type namedKey struct {
	name string
	key  ssh.PublicKey
}

// makeKeys makes one public key of every type sshd accepts.
func makeKeys() ([]namedKey, error) {
	var out []namedKey
	add := func(name string, k ssh.PublicKey, err error) error {
		if err != nil {
			return fmt.Errorf("make %s key: %w", name, err)
		}
		out = append(out, namedKey{name, k})
		return nil
	}
	for _, bits := range []int{2048, 3072} {
		priv, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, err
		}
		k, err := ssh.NewPublicKey(&priv.PublicKey)
		if err := add(fmt.Sprintf("rsa-%d", bits), k, err); err != nil {
			return nil, err
		}
	}
	for _, c := range []struct {
		name  string
		curve elliptic.Curve
	}{{"ecdsa-p256", elliptic.P256()}, {"ecdsa-p384", elliptic.P384()}, {"ecdsa-p521", elliptic.P521()}} {
		priv, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			return nil, err
		}
		k, err := ssh.NewPublicKey(&priv.PublicKey)
		if err := add(c.name, k, err); err != nil {
			return nil, err
		}
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	k, err := ssh.NewPublicKey(pub)
	if err := add("ed25519", k, err); err != nil {
		return nil, err
	}
	k, err = skEd25519()
	if err := add("sk-ed25519", k, err); err != nil {
		return nil, err
	}
	k, err = skECDSA()
	if err := add("sk-ecdsa-p256", k, err); err != nil {
		return nil, err
	}
	return out, nil
}

// skEd25519 builds a security-key Ed25519 public key from its wire format.
func skEd25519() (ssh.PublicKey, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	wire := struct {
		Name, Key, Application string
	}{ssh.KeyAlgoSKED25519, string(pub), "ssh:"}
	return ssh.ParsePublicKey(ssh.Marshal(&wire))
}

// skECDSA builds a security-key ECDSA P-256 public key from its wire format.
func skECDSA() (ssh.PublicKey, error) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	wire := struct {
		Name, Curve, Point, Application string
	}{ssh.KeyAlgoSKECDSA256, "nistp256", string(priv.PublicKey().Bytes()), "ssh:"}
	return ssh.ParsePublicKey(ssh.Marshal(&wire))
}

// mustOnce unwraps a sync.OnceValues result.
func mustOnce[T any](t testing.TB, f func() (T, error)) T {
	t.Helper()
	v, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func signer(t testing.TB) *rsa.PrivateKey { return mustOnce(t, testSigner) }

// key returns the test key of the named type.
func key(t testing.TB, name string) ssh.PublicKey {
	t.Helper()
	for _, k := range mustOnce(t, testKeys) {
		if k.name == name {
			return k.key
		}
	}
	t.Fatalf("no test key %q", name)
	return nil
}

// line is k's canonical authorized_keys line.
func line(k ssh.PublicKey) string { return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) }

// meta is the usual metadata of a block expiring at ts.
func meta(ts int64) []string {
	return []string{
		fmt.Sprintf("#Timestamp=%d", ts),
		"#Instance=" + instanceID,
		"#Caller=" + caller,
		"#Request=" + requestID,
	}
}

// spec describes one block of a test bundle.
type spec struct {
	meta []string // metadata lines, signed and served
	key  string   // key line, signed and served
	// sign makes the signature; nil: pki.SignPSS with the test signer.
	sign func(t testing.TB, data []byte) []byte
	// wrap is the width of the signature lines; 0: one line.
	wrap int
	// serve alters the block's lines after signing (metadata, key, signature lines).
	serve func(lines []string) []string
}

func block(ts int64, k ssh.PublicKey) spec { return spec{meta: meta(ts), key: line(k)} }

func (s spec) render(t testing.TB) string {
	t.Helper()
	lines := append(append([]string{}, s.meta...), s.key)
	signed := strings.Join(lines, "\n") + "\n"
	var sig []byte
	if s.sign != nil {
		sig = s.sign(t, []byte(signed))
	} else {
		var err error
		if sig, err = pki.SignPSS(signer(t), []byte(signed)); err != nil {
			t.Fatal(err)
		}
	}
	enc := base64.StdEncoding.EncodeToString(sig)
	for s.wrap > 0 && len(enc) > s.wrap {
		lines = append(lines, enc[:s.wrap])
		enc = enc[s.wrap:]
	}
	lines = append(lines, enc)
	if s.serve != nil {
		lines = s.serve(lines)
	}
	return strings.Join(lines, "\n")
}

// bundleOf serves the blocks as IMDS does: separated by a blank line, with a final newline.
func bundleOf(t testing.TB, specs ...spec) []byte {
	t.Helper()
	var parts []string
	for _, s := range specs {
		parts = append(parts, s.render(t))
	}
	return []byte(strings.Join(parts, "\n\n") + "\n")
}

// replacePrefix returns a serve function replacing the line starting with prefix.
func replacePrefix(prefix, with string) func([]string) []string {
	return func(lines []string) []string {
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				lines[i] = with
			}
		}
		return lines
	}
}
