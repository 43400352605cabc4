// Package logins answers "who logged in as whom": it reads sshd's "Accepted publickey" lines
// and eic-agent's accept records from the journal (journalctl -o json) or from syslog files
// (auth.log, secure), and joins each login to the grant that let it in, by fingerprint, user,
// host and time.
//
// Contract: parsing is strict and never guesses. A line that does not have exactly the shape
// sshd or eic-agent writes is skipped and counted, never half-read. In the journal only
// records written by trusted processes count (sshd as root; accept records from root or the
// service account, by journald's own _UID), so a local user cannot forge a principal with
// logger(1). Syslog files carry no such proof: any local user can write to /dev/log, which the
// documentation says. A login is attributed to an IAM principal only when an accept record for
// the same key, user and host was logged shortly before it; otherwise it shows none.
// Everything read is bounded: line length, lines read and events kept.
package logins

import (
	"net/netip"
	"time"
)

// Limits on what one run reads. Beyond MaxLines the reading stops and the result says it was
// cut short; a line longer than MaxLineBytes is skipped and counted.
const (
	MaxLineBytes = 64 << 10
	MaxLines     = 5_000_000
	MaxEvents    = 500_000
)

// The join: an accept record is logged while sshd asks for keys, just before it logs the
// login. GrantWindow is how long before the sshd line a record may be (a pushed key lives 60
// s); GrantSkew how long after (journald stamps messages from two sockets as it reads them,
// which can reorder them slightly).
const (
	GrantWindow = 60 * time.Second
	GrantSkew   = 2 * time.Second
)

// Accepted is one sshd "Accepted publickey" line.
type Accepted struct {
	Time        time.Time
	Host        string
	User        string
	Addr        netip.Addr
	Port        uint16
	KeyType     string // as sshd names it: ED25519, RSA, ECDSA, ED25519-CERT, ...
	Fingerprint string // SHA256:... or MD5:...
	Cert        bool   // a certificate login: the fingerprint is the certificate key's
}

// Grant is one eic-agent (or upstream ec2-instance-connect) accept record.
type Grant struct {
	Time        time.Time
	Host        string
	User        string // "" in upstream's records, which do not name the user
	Fingerprint string
	RequestID   string
	Caller      string
}

// Login is one accepted login with the grant that let it in, if any.
type Login struct {
	Time        time.Time `json:"time"`
	Host        string    `json:"host"`
	User        string    `json:"user"`
	From        string    `json:"from"`
	Port        uint16    `json:"port"`
	KeyType     string    `json:"key_type"`
	Fingerprint string    `json:"fingerprint"`
	// Principal and RequestID are "" for a login by a key EC2 Instance Connect did not push.
	Principal string `json:"principal"`
	RequestID string `json:"request_id"`
}

// Events is what a source yielded, and what it could not read.
type Events struct {
	Accepted []Accepted
	Grants   []Grant
	// Skipped counts lines that looked like ours or sshd's but did not parse, or came from an
	// untrusted writer, or were too long.
	Skipped int
	// Truncated: MaxLines or MaxEvents was reached and the rest was not read.
	Truncated bool
}

func (e *Events) full() bool {
	if len(e.Accepted)+len(e.Grants) >= MaxEvents {
		e.Truncated = true
	}
	return e.Truncated
}
