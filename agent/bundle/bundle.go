// Package bundle splits the EC2 Instance Connect key bundle (the document served at
// meta-data/managed-ssh-keys/active-keys/USER/) into signed blocks.
//
// Contract: Parse is pure and total. It takes the bundle's bytes, trusts none of them, and
// returns one Block per blank-line-separated block, with the exact bytes the signature covers
// (Signed) and the decoded signature. It never verifies a signature or interprets a field value:
// that is agent/keys' job. A block it cannot parse strictly is returned with Err set (wrapping
// ErrMalformed) so the caller can report it; the blocks after it are still parsed. Only a bundle
// with more than MaxBlocks blocks is refused as a whole (ErrTooLarge). Returned blocks never
// alias the input.
package bundle

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

const (
	// MaxBlocks bounds the work one bundle can cause. A user has at most a handful of keys
	// pushed within their 60 s lifetime; a bundle with more blocks than this is not a bundle.
	MaxBlocks = 1024
	// MaxLineLen bounds a single line. The longest legitimate line is an RSA-16384 key line
	// (about 2.8 KiB); anything longer makes its block malformed.
	MaxLineLen = 16 << 10
)

var (
	// ErrMalformed is wrapped by Block.Err for a block that does not follow the format.
	ErrMalformed = errors.New("malformed block")
	// ErrTooLarge is returned by Parse for a bundle with more than MaxBlocks blocks.
	ErrTooLarge = errors.New("key bundle too large")
)

// The metadata fields the service signs into every block (SPEC.md, "The key bundle"). Other
// fields may appear and are covered by the signature too.
const (
	FieldTimestamp = "Timestamp" // expiry, Unix seconds
	FieldInstance  = "Instance"  // the instance id the key is for
	FieldCaller    = "Caller"    // the IAM principal that pushed the key
	FieldRequest   = "Request"   // the SendSSHPublicKey request id
)

// Field is one metadata line, "#Name=Value".
type Field struct{ Name, Value string }

// Block is one signed block of the bundle.
type Block struct {
	Index     int     // 0-based position in the bundle
	Line      int     // 1-based line number where the block starts
	Fields    []Field // metadata lines ("#Name=Value") in served order
	KeyLine   string  // the key line exactly as served
	Signature []byte  // decoded signature (lines after the key, joined)
	Signed    []byte  // exact bytes the signature covers: each metadata line and the key line + "\n"
	Err       error   // non-nil: this block is malformed (wraps ErrMalformed); other fields partial
}

// Get returns the value of the metadata field name (case-sensitive) and whether it is present.
func (b Block) Get(name string) (string, bool) {
	for _, f := range b.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// Parse splits data into blocks. Blocks are separated by one or more empty lines; leading and
// trailing empty lines and a missing final newline are fine. A line of spaces is not empty: it
// stays in its block, where it can pass neither as metadata, nor as a key, nor as a signature.
// The error is non-nil only when the whole bundle is unusable (ErrTooLarge).
func Parse(data []byte) ([]Block, error) {
	var (
		blocks []Block
		cur    [][]byte // lines of the block being collected
		start  int      // line number of cur[0]
	)
	emit := func() error {
		if len(cur) == 0 {
			return nil
		}
		if len(blocks) == MaxBlocks {
			return fmt.Errorf("%w: more than %d blocks", ErrTooLarge, MaxBlocks)
		}
		blocks = append(blocks, parseBlock(len(blocks), start, cur))
		cur = cur[:0]
		return nil
	}
	rest := data
	for n := 1; len(rest) > 0; n++ {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		if len(line) == 0 {
			if err := emit(); err != nil {
				return nil, err
			}
			continue
		}
		if len(cur) == 0 {
			start = n
		}
		cur = append(cur, line)
	}
	if err := emit(); err != nil {
		return nil, err
	}
	return blocks, nil
}

// parseBlock parses the non-empty lines of one block; first is the bundle line number of
// lines[0].
func parseBlock(index, first int, lines [][]byte) Block {
	b := Block{Index: index, Line: first}
	// Reject unusable bytes before looking at structure, and keep nothing from such a block:
	// a CR or NUL means something between AWS and us rewrote the bundle, or someone is trying
	// to smuggle a second line past a consumer.
	for i, l := range lines {
		switch {
		case len(l) > MaxLineLen:
			b.Err = malformed("line %d longer than %d bytes", first+i, MaxLineLen)
			return b
		case bytes.IndexByte(l, '\r') >= 0:
			b.Err = malformed("line %d contains CR", first+i)
			return b
		case bytes.IndexByte(l, 0) >= 0:
			b.Err = malformed("line %d contains NUL", first+i)
			return b
		}
	}
	i := 0
	seen := make(map[string]bool)
	for ; i < len(lines) && lines[i][0] == '#'; i++ {
		name, value, ok := bytes.Cut(lines[i][1:], []byte("="))
		if !ok {
			b.Err = malformed("line %d: metadata line is not #Name=Value", first+i)
			return b
		}
		if !validName(name) {
			b.Err = malformed("line %d: invalid field name", first+i)
			return b
		}
		if seen[string(name)] {
			b.Err = malformed("line %d: duplicate field %s", first+i, name)
			return b
		}
		seen[string(name)] = true
		b.Fields = append(b.Fields, Field{Name: string(name), Value: string(value)})
	}
	if i == len(lines) {
		b.Err = malformed("no key line")
		return b
	}
	b.KeyLine = string(lines[i])
	var signed []byte
	for _, l := range lines[:i+1] {
		signed = append(append(signed, l...), '\n')
	}
	b.Signed = signed
	sigLines := lines[i+1:]
	if len(sigLines) == 0 {
		b.Err = malformed("no signature")
		return b
	}
	// Strict: canonical padding and zero trailing bits, no spaces. StdEncoding would skip CR
	// and LF, but neither can be left in a line here.
	joined := bytes.Join(sigLines, nil)
	sig := make([]byte, base64.StdEncoding.DecodedLen(len(joined)))
	n, err := base64.StdEncoding.Strict().Decode(sig, joined)
	if err != nil {
		b.Err = malformed("signature (from line %d) is not base64", first+i+1)
		return b
	}
	b.Signature = sig[:n]
	return b
}

// validName reports whether name matches [A-Za-z0-9_-]+.
func validName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
