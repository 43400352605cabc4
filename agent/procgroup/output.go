package procgroup

import (
	"bytes"
	"errors"
)

// Output collects what a child writes to its stdout or stderr, at most Max bytes. Past Max the
// rest is dropped and counted in Discarded while the write still succeeds, so a child with more
// to say is not killed by SIGPIPE mid-way; with Strict the write fails instead, which closes the
// pipe so a runaway child dies of SIGPIPE rather than filling memory. Either way Discarded > 0
// says that output was lost.
type Output struct {
	Max       int64
	Strict    bool
	Discarded int64
	buf       bytes.Buffer
}

// errTooLarge is what a Strict Output's writer gets past Max.
var errTooLarge = errors.New("output too large")

func (o *Output) Write(p []byte) (int, error) {
	room := o.Max - int64(o.buf.Len())
	if room >= int64(len(p)) {
		return o.buf.Write(p)
	}
	if o.Strict {
		o.Discarded += int64(len(p))
		return 0, errTooLarge
	}
	if room > 0 {
		o.buf.Write(p[:room])
	}
	o.Discarded += int64(len(p)) - max(room, 0)
	return len(p), nil
}

// Bytes is what was kept.
func (o *Output) Bytes() []byte { return o.buf.Bytes() }

// String is what was kept, as a string.
func (o *Output) String() string { return o.buf.String() }
