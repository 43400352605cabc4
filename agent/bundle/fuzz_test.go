package bundle

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func FuzzParse(f *testing.F) {
	block := lines(tsLine, instLine, keyLine, sigA)
	for _, seed := range []string{
		"",
		"\n",
		block,
		block + "\n\n" + block + "\n",
		"\n\n" + lines("#A=1", "#B=2=3", keyLine, "AAECAw", "QFBgcI", "CQ==") + "\n",
		lines(tsLine, tsLine, keyLine, sigA),
		lines(tsLine, keyLine),
		lines(tsLine, instLine),
		lines("#=", keyLine, sigB),
		lines(tsLine, keyLine+"\r", sigA) + "\n\n" + block,
		lines(tsLine, "#X=\x00", keyLine, sigA),
		lines(tsLine, keyLine, "/x=="),
		strings.ReplaceAll(block, "\n", "\r\n"),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrTooLarge) || blocks != nil {
				t.Fatalf("Parse = %d blocks, %v; only ErrTooLarge with no blocks may fail", len(blocks), err)
			}
			return
		}
		if len(blocks) > MaxBlocks {
			t.Fatalf("Parse returned %d blocks, more than MaxBlocks", len(blocks))
		}
		var rebuilt []byte
		prevLine := 0
		for i, b := range blocks {
			if b.Index != i {
				t.Fatalf("block %d has Index %d", i, b.Index)
			}
			if b.Line <= prevLine {
				t.Fatalf("block %d starts at line %d, not after line %d", i, b.Line, prevLine)
			}
			prevLine = b.Line
			if b.Err != nil {
				if !errors.Is(b.Err, ErrMalformed) {
					t.Fatalf("block %d: Err %v does not wrap ErrMalformed", i, b.Err)
				}
				continue
			}
			checkValid(t, data, b)
			rebuilt = append(rebuilt, b.Signed...)
			rebuilt = append(rebuilt, base64.StdEncoding.EncodeToString(b.Signature)...)
			rebuilt = append(rebuilt, "\n\n"...)
		}
		// Serializing the valid blocks again must parse back to the same blocks.
		again, err := Parse(rebuilt)
		if err != nil {
			t.Fatalf("Parse(rebuilt) error: %v", err)
		}
		var want []Block
		for _, b := range blocks {
			if b.Err == nil {
				want = append(want, b)
			}
		}
		ignore := cmp.FilterPath(func(p cmp.Path) bool {
			name := p.Last().String()
			return name == ".Index" || name == ".Line"
		}, cmp.Ignore())
		if diff := cmp.Diff(want, again, ignore); diff != "" {
			t.Fatalf("round trip mismatch (-want +got):\n%s", diff)
		}
	})
}

// checkValid asserts the invariants of a block parsed without error.
func checkValid(t *testing.T, data []byte, b Block) {
	t.Helper()
	var signed []byte
	names := map[string]bool{}
	for _, f := range b.Fields {
		if names[f.Name] {
			t.Fatalf("block %d: duplicate field %q accepted", b.Index, f.Name)
		}
		names[f.Name] = true
		if !validName([]byte(f.Name)) {
			t.Fatalf("block %d: invalid field name %q accepted", b.Index, f.Name)
		}
		signed = append(signed, "#"+f.Name+"="+f.Value+"\n"...)
	}
	signed = append(signed, b.KeyLine+"\n"...)
	if !bytes.Equal(signed, b.Signed) {
		t.Fatalf("block %d: Signed = %q, want fields and key line %q", b.Index, b.Signed, signed)
	}
	if !bytes.Contains(data, b.Signed) {
		t.Fatalf("block %d: Signed %q is not a substring of the served bundle", b.Index, b.Signed)
	}
	if b.KeyLine == "" || b.KeyLine[0] == '#' {
		t.Fatalf("block %d: key line %q accepted", b.Index, b.KeyLine)
	}
	if bytes.ContainsAny(b.Signed, "\r\x00") {
		t.Fatalf("block %d: Signed contains CR or NUL: %q", b.Index, b.Signed)
	}
	if len(b.Signature) == 0 {
		t.Fatalf("block %d: accepted with an empty signature", b.Index)
	}
}
