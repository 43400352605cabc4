package logins

import (
	"bufio"
	"errors"
	"io"
)

// lineReader returns lines of at most MaxLineBytes; the rest of a longer line is discarded,
// never buffered.
type lineReader struct{ br *bufio.Reader }

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, MaxLineBytes)}
}

// next returns the next line without its "\n". tooLong reports a line that was discarded.
// At the end it returns the last (unterminated) line with io.EOF.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	line, err = l.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = l.br.ReadSlice('\n')
		}
		return nil, true, err
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	return line, false, err
}
