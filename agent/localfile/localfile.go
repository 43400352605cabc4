// Package localfile reads the local files the agent trusts or inspects (its config, trust
// stores, sysfs attributes, saved cases) with a size bound.
//
// Contract: only regular files are read (symlinks are followed); opening never blocks on a
// FIFO; at most max bytes are held in memory whatever the file claims its size is.
package localfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrTooLarge is wrapped by the error for a file over the bound.
var ErrTooLarge = errors.New("file too large")

// Read returns the contents of the regular file at path, at most max bytes; a larger file is an
// error wrapping ErrTooLarge. check, when not nil, sees the opened file's FileInfo before
// anything is read (an ownership or mode rule), and its error is returned as is.
func Read(path string, max int64, check func(fs.FileInfo) error) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO (or a link to one) must not hang; the mode check refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s, not a regular file", describe(st.Mode()))
	}
	if check != nil {
		if err := check(st); err != nil {
			return nil, err
		}
	}
	// The size may change between Stat and Read: the limit is what bounds memory.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrTooLarge, max)
	}
	return data, nil
}

// describe names a file type in words an operator knows ("is a directory"), not as a mode
// string ("d---------").
func describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "is a directory"
	case m&fs.ModeNamedPipe != 0:
		return "is a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "is a socket"
	case m&fs.ModeCharDevice != 0:
		return "is a character device"
	case m&fs.ModeDevice != 0:
		return "is a block device"
	}
	return fmt.Sprintf("is a special file (%s)", m.Type())
}
