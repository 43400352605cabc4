package bundle

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sigA and sigB are short base64 signatures; the parser does not care about their length.
const (
	sigA = "AAECAwQFBgcICQ==" // 0..9
	sigB = "/w=="             // 0xff
)

var (
	bytesA = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	bytesB = []byte{0xff}
)

// view is what a test compares: Block with Err reduced to its message (or "").
type view struct {
	Index, Line int
	Fields      []Field
	KeyLine     string
	Signature   []byte
	Signed      string
	Err         string
}

func views(t *testing.T, blocks []Block) []view {
	t.Helper()
	var out []view
	for _, b := range blocks {
		v := view{Index: b.Index, Line: b.Line, Fields: b.Fields, KeyLine: b.KeyLine,
			Signature: b.Signature, Signed: string(b.Signed)}
		if b.Err != nil {
			if !errors.Is(b.Err, ErrMalformed) {
				t.Errorf("block %d: Err %v does not wrap ErrMalformed", b.Index, b.Err)
			}
			v.Err = b.Err.Error()
		}
		out = append(out, v)
	}
	return out
}

func lines(ls ...string) string { return strings.Join(ls, "\n") }

const (
	tsLine   = "#Timestamp=1750000060"
	instLine = "#Instance=i-0123456789abcdef0"
	keyLine  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice"
	fieldTS  = "1750000060"
	fieldIns = "i-0123456789abcdef0"
)

var stdFields = []Field{{"Timestamp", fieldTS}, {"Instance", fieldIns}}

const stdSigned = tsLine + "\n" + instLine + "\n" + keyLine + "\n"

func good(index, line int) view {
	return view{Index: index, Line: line, Fields: stdFields, KeyLine: keyLine, Signature: bytesA, Signed: stdSigned}
}

func bad(index, line int, fields []Field, key, signed, err string) view {
	return view{Index: index, Line: line, Fields: fields, KeyLine: key, Signed: signed,
		Err: "malformed block: " + err}
}

func TestParse(t *testing.T) {
	block := lines(tsLine, instLine, keyLine, sigA)
	tests := []struct {
		name string
		in   string
		want []view
	}{
		{"empty-bundle-has-no-blocks", "", nil},
		{"only-blank-lines-have-no-blocks", "\n\n\n", nil},
		{"single-block-with-trailing-newline", block + "\n", []view{good(0, 1)}},
		{"single-block-without-trailing-newline", block, []view{good(0, 1)}},
		{"leading-blank-lines-skipped", "\n\n" + block + "\n", []view{good(0, 3)}},
		{"blocks-split-by-one-blank-line", block + "\n\n" + block + "\n",
			[]view{good(0, 1), good(1, 6)}},
		{"blocks-split-by-many-blank-lines", block + "\n\n\n\n" + block + "\n\n\n",
			[]view{good(0, 1), good(1, 8)}},
		{"wrapped-signature-joined", lines(tsLine, instLine, keyLine, "AAECAw", "QFBgcI", "CQ=="),
			[]view{good(0, 1)}},
		{"unknown-fields-kept-in-order", lines("#Zeta=z", instLine, "#X-Extra_1=", tsLine, keyLine, sigB),
			[]view{{Line: 1, Fields: []Field{{"Zeta", "z"}, {"Instance", fieldIns}, {"X-Extra_1", ""}, {"Timestamp", fieldTS}},
				KeyLine: keyLine, Signature: bytesB,
				Signed: "#Zeta=z\n" + instLine + "\n#X-Extra_1=\n" + tsLine + "\n" + keyLine + "\n"}}},
		{"value-may-contain-equals-and-spaces", lines("#Caller=arn:x = y==", keyLine, sigB),
			[]view{{Line: 1, Fields: []Field{{"Caller", "arn:x = y=="}}, KeyLine: keyLine, Signature: bytesB,
				Signed: "#Caller=arn:x = y==\n" + keyLine + "\n"}}},
		{"no-metadata-is-not-a-parse-error", lines(keyLine, sigB),
			[]view{{Line: 1, KeyLine: keyLine, Signature: bytesB, Signed: keyLine + "\n"}}},
		{"key-line-kept-exactly", lines(tsLine, "  ssh-rsa  AAAA x\ty ", sigB),
			[]view{{Line: 1, Fields: stdFields[:1], KeyLine: "  ssh-rsa  AAAA x\ty ", Signature: bytesB,
				Signed: tsLine + "\n  ssh-rsa  AAAA x\ty \n"}}},
		{"cr-makes-block-malformed", lines(tsLine, instLine, keyLine+"\r", sigA),
			[]view{bad(0, 1, nil, "", "", "line 3 contains CR")}},
		{"crlf-bundle-is-malformed", strings.ReplaceAll(block+"\n", "\n", "\r\n"),
			[]view{bad(0, 1, nil, "", "", "line 1 contains CR")}},
		{"nul-makes-block-malformed", lines(tsLine, "#Caller=a\x00b", keyLine, sigA),
			[]view{bad(0, 1, nil, "", "", "line 2 contains NUL")}},
		{"nul-in-signature-makes-block-malformed", lines(tsLine, keyLine, sigA+"\x00"),
			[]view{bad(0, 1, nil, "", "", "line 3 contains NUL")}},
		{"long-line-makes-block-malformed", lines(tsLine, "#Pad="+strings.Repeat("x", MaxLineLen), keyLine, sigA),
			[]view{bad(0, 1, nil, "", "", fmt.Sprintf("line 2 longer than %d bytes", MaxLineLen))}},
		{"duplicate-field-malformed", lines(tsLine, instLine, tsLine, keyLine, sigA),
			[]view{bad(0, 1, stdFields, "", "", "line 3: duplicate field Timestamp")}},
		{"metadata-without-equals-malformed", lines("#Timestamp", keyLine, sigA),
			[]view{bad(0, 1, nil, "", "", "line 1: metadata line is not #Name=Value")}},
		{"empty-field-name-malformed", lines("#=x", keyLine, sigA),
			[]view{bad(0, 1, nil, "", "", "line 1: invalid field name")}},
		{"field-name-with-space-malformed", lines("#Time stamp=1", keyLine, sigA),
			[]view{bad(0, 1, nil, "", "", "line 1: invalid field name")}},
		{"field-name-with-dot-malformed", lines("#a.b=1", keyLine, sigA),
			[]view{bad(0, 1, nil, "", "", "line 1: invalid field name")}},
		{"no-key-line-malformed", lines(tsLine, instLine),
			[]view{bad(0, 1, stdFields, "", "", "no key line")}},
		{"no-signature-malformed", lines(tsLine, instLine, keyLine),
			[]view{bad(0, 1, stdFields, keyLine, stdSigned, "no signature")}},
		{"signature-missing-padding-malformed", lines(tsLine, instLine, keyLine, "/w"),
			[]view{bad(0, 1, stdFields, keyLine, stdSigned, "signature (from line 4) is not base64")}},
		{"signature-nonzero-trailing-bits-malformed", lines(tsLine, instLine, keyLine, "/x=="),
			[]view{bad(0, 1, stdFields, keyLine, stdSigned, "signature (from line 4) is not base64")}},
		{"signature-url-alphabet-malformed", lines(tsLine, instLine, keyLine, "_w=="),
			[]view{bad(0, 1, stdFields, keyLine, stdSigned, "signature (from line 4) is not base64")}},
		{"signature-with-space-malformed", lines(tsLine, instLine, keyLine, "AAEC AwQF"),
			[]view{bad(0, 1, stdFields, keyLine, stdSigned, "signature (from line 4) is not base64")}},
		{"metadata-after-key-malformed", lines(tsLine, keyLine, instLine, sigA),
			[]view{bad(0, 1, stdFields[:1], keyLine, tsLine+"\n"+keyLine+"\n", "signature (from line 3) is not base64")}},
		{"space-only-line-does-not-split-blocks", block + "\n \n" + block,
			[]view{bad(0, 1, stdFields, keyLine, stdSigned, "signature (from line 4) is not base64")}},
		{"bad-block-does-not-stop-later-blocks", lines(tsLine, keyLine+"\r", sigA) + "\n\n" + block + "\n",
			[]view{bad(0, 1, nil, "", "", "line 2 contains CR"), good(1, 5)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blocks, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatalf("Parse: unexpected error %v", err)
			}
			if diff := cmp.Diff(tc.want, views(t, blocks)); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBlockLimit(t *testing.T) {
	block := lines(tsLine, instLine, keyLine, sigA) + "\n\n"
	tests := []struct {
		name    string
		blocks  int
		wantErr error
	}{
		{"max-blocks-accepted", MaxBlocks, nil},
		{"one-more-than-max-refused", MaxBlocks + 1, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(strings.Repeat(block, tc.blocks)))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Parse error = %v, want %v", err, tc.wantErr)
			}
			wantLen := tc.blocks
			if tc.wantErr != nil {
				wantLen = 0
			}
			if len(got) != wantLen {
				t.Fatalf("Parse returned %d blocks, want %d", len(got), wantLen)
			}
		})
	}
}

func TestGet(t *testing.T) {
	b := Block{Fields: []Field{{"Timestamp", "1"}, {"Caller", ""}}}
	tests := []struct {
		name, field, want string
		wantOK            bool
	}{
		{"present", "Timestamp", "1", true},
		{"present-empty", "Caller", "", true},
		{"absent", "Instance", "", false},
		{"case-sensitive", "timestamp", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := b.Get(tc.field)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Get(%q) = %q, %v; want %q, %v", tc.field, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestParseDoesNotAliasInput(t *testing.T) {
	in := []byte(lines(tsLine, instLine, keyLine, sigA))
	blocks, err := Parse(in)
	if err != nil || len(blocks) != 1 {
		t.Fatalf("Parse = %d blocks, %v; want 1 block", len(blocks), err)
	}
	for i := range in {
		in[i] = 'x'
	}
	if got := string(blocks[0].Signed); got != stdSigned {
		t.Errorf("Signed changed with the input: got %q, want %q", got, stdSigned)
	}
}
