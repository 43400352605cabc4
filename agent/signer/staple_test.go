package signer

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeStaple(t *testing.T) {
	der := []byte{0x30, 0x03, 0x02, 0x01, 0x20} // ends in a space byte, which must survive
	b64 := base64.StdEncoding.EncodeToString(der)
	big := bytes.Repeat([]byte{0x30}, MaxStapleSize+1)
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr bool
	}{
		{"base64-decoded", []byte(b64), der, false},
		{"base64-with-surrounding-whitespace-decoded", []byte("\n " + b64 + "\r\n"), der, false},
		{"raw-der-kept-untrimmed", der, der, false},
		{"empty-rejected", nil, nil, true},
		{"whitespace-rejected", []byte(" \n"), nil, true},
		{"text-rejected", []byte("not a staple!"), nil, true},
		{"url-safe-base64-rejected", []byte("-_-_"), nil, true},
		{"oversized-der-rejected", big, nil, true},
		{"oversized-base64-rejected", []byte(base64.StdEncoding.EncodeToString(big)), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeStaple(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("DecodeStaple: got error %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DecodeStaple (-want +got):\n%s", diff)
			}
		})
	}
}
