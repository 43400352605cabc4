package localfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exact := write("exact", "12345678")
	over := write("over", "123456789")
	if err := os.Symlink(exact, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	refuse := errors.New("refused by check")
	tests := []struct {
		name    string
		path    string
		check   func(fs.FileInfo) error
		want    string
		wantErr string
	}{
		{name: "file-at-the-bound-read", path: exact, want: "12345678"},
		{name: "symlink-followed", path: filepath.Join(dir, "link"), want: "12345678"},
		{name: "file-over-the-bound-refused", path: over, wantErr: "larger than 8 bytes"},
		{name: "directory-refused-in-words", path: dir, wantErr: "is a directory, not a regular file"},
		{name: "fifo-refused-in-words-without-blocking", path: fifo, wantErr: "is a named pipe (FIFO), not a regular file"},
		{name: "device-refused-in-words", path: "/dev/null", wantErr: "is a character device, not a regular file"},
		{name: "missing-file-refused", path: filepath.Join(dir, "nope"), wantErr: "no such file"},
		{name: "check-error-returned", path: exact, check: func(fs.FileInfo) error { return refuse }, wantErr: "refused by check"},
		{name: "check-sees-the-file", path: exact, check: func(st fs.FileInfo) error {
			if st.Size() != 8 {
				return errors.New("wrong FileInfo")
			}
			return nil
		}, want: "12345678"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(tc.path, 8, tc.check)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Read = %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("Read = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := Read(over, 8, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize error %v does not wrap ErrTooLarge", err)
	}
}
