package testenv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// JournalSocket is where journald's native protocol socket lives; the helper's journald logger
// finds it there.
const JournalSocket = "/run/systemd/journal/socket"

// Entry is one journal record: field name to value.
type Entry map[string]string

// Journal is a stand-in for journald inside the namespace: it receives native-protocol
// datagrams and keeps the entries, so tests read exactly what the helper logged.
type Journal struct {
	conn    *net.UnixConn
	mu      sync.Mutex
	cond    *sync.Cond
	entries []Entry
	done    chan struct{}
}

// StartJournal listens on the journald socket. It must run inside the namespaces.
func StartJournal() (*Journal, error) {
	if err := os.MkdirAll(filepath.Dir(JournalSocket), 0o755); err != nil {
		return nil, err
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: JournalSocket, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("journal socket: %w", err)
	}
	// The helper runs as an unprivileged user and must be able to send to it.
	if err := os.Chmod(JournalSocket, 0o666); err != nil {
		conn.Close()
		return nil, err
	}
	j := &Journal{conn: conn, done: make(chan struct{})}
	j.cond = sync.NewCond(&j.mu)
	go j.read()
	return j, nil
}

func (j *Journal) read() {
	defer close(j.done)
	buf := make([]byte, 1<<20)
	for {
		n, err := j.conn.Read(buf)
		if err != nil {
			j.cond.Broadcast()
			return
		}
		e, err := parseNative(buf[:n])
		if err != nil {
			e = Entry{"MESSAGE": "testenv: unparseable journal datagram: " + err.Error()}
		}
		j.mu.Lock()
		j.entries = append(j.entries, e)
		j.mu.Unlock()
		j.cond.Broadcast()
	}
}

// parseNative decodes journald's native protocol: "KEY=value\n", or for values with
// newlines "KEY\n" + little-endian uint64 length + value + "\n".
func parseNative(b []byte) (Entry, error) {
	e := Entry{}
	for len(b) > 0 {
		nl := strings.IndexByte(string(b), '\n')
		if nl < 0 {
			return e, errors.New("field without newline")
		}
		line := string(b[:nl])
		if k, v, ok := strings.Cut(line, "="); ok {
			e[k] = v
			b = b[nl+1:]
			continue
		}
		rest := b[nl+1:]
		if len(rest) < 8 {
			return e, errors.New("short binary field")
		}
		n := binary.LittleEndian.Uint64(rest[:8])
		if uint64(len(rest)-8) < n+1 {
			return e, errors.New("binary field overruns the datagram")
		}
		e[line] = string(rest[8 : 8+n])
		b = rest[8+n+1:]
	}
	return e, nil
}

// Entries returns a copy of what was logged so far.
func (j *Journal) Entries() []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Entry(nil), j.entries...)
}

// Mark returns a position; Since returns the entries logged after it.
func (j *Journal) Mark() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.entries)
}

// Since returns the entries logged after mark.
func (j *Journal) Since(mark int) []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Entry(nil), j.entries[mark:]...)
}

// WaitFor returns the first entry after mark that satisfies match, waiting up to timeout for
// it to arrive (datagrams from a finished helper may still be in the socket buffer).
func (j *Journal) WaitFor(mark int, timeout time.Duration, match func(Entry) bool) (Entry, bool) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, j.cond.Broadcast)
	defer timer.Stop()
	j.mu.Lock()
	defer j.mu.Unlock()
	for {
		for _, e := range j.entries[mark:] {
			if match(e) {
				return e, true
			}
		}
		if time.Now().After(deadline) {
			return nil, false
		}
		select {
		case <-j.done:
			return nil, false
		default:
		}
		j.cond.Wait()
	}
}

// Close stops listening.
func (j *Journal) Close() error {
	err := j.conn.Close()
	<-j.done
	return err
}
