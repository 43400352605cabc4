package wire

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
)

// FromResult is the answer for a lookup that returned res and err. It carries what
// lookup.Record and Result.Lines need; the signer and the parsed bundle stay in the service.
// Every accepted key is in it; rejections are bounded (MaxRejectedItems).
func FromResult(res lookup.Result, err error) Response {
	r := Response{V: Version, Verdict: VerdictDecided, User: res.User, Outcome: res.Outcome, Detail: res.Detail}
	if err != nil {
		r.Verdict, r.Error = VerdictFailed, err.Error()
		if r.Error == "" {
			r.Error = "verification failed"
		}
	}
	for _, a := range res.Accepted {
		r.Accepted = append(r.Accepted, AcceptedKey{
			Line:        a.Line,
			Fingerprint: a.Fingerprint,
			Caller:      a.Caller,
			RequestID:   a.RequestID,
			InstanceID:  a.InstanceID,
			Expires:     a.Expires.Unix(),
			Block:       a.Block,
		})
	}
	r.Rejected, r.RejectedMore = boundRejected(res.Rejected)
	return r
}

// Result turns the answer back into what the lookup decided. The error is the lookup's own
// (the verification could not complete) unless it wraps ErrRefused (no verdict) or
// ErrInvalidResponse (the answer is out of shape: nothing in it may be used, not even the
// rejections). Every accepted line is re-parsed: one that is not a plain public key in
// canonical "TYPE BASE64" form, or whose fingerprint is not its key's, invalidates the answer.
func (r Response) Result() (lookup.Result, error) {
	invalid := func(format string, args ...any) (lookup.Result, error) {
		return lookup.Result{}, fmt.Errorf("%w: %s", ErrInvalidResponse, fmt.Sprintf(format, args...))
	}
	if r.V != Version {
		return invalid("protocol version %d, want %d", r.V, Version)
	}
	switch r.Verdict {
	case VerdictNone:
		return lookup.Result{}, fmt.Errorf("%w: %s", ErrRefused, r.Error)
	case VerdictFailed:
		if r.Error == "" {
			return invalid("failed answer without an error")
		}
	case VerdictDecided:
		if r.Error != "" {
			return invalid("decided answer with an error")
		}
	default:
		return invalid("unknown verdict %d", int(r.Verdict))
	}
	if err := lookup.ValidateUser(r.User); err != nil {
		return invalid("%v", err)
	}
	if _, err := r.Outcome.MarshalText(); err != nil {
		return invalid("%v", err)
	}
	// Direct mode accepts keys only from a verification that completed; anything else is a
	// confused service.
	if len(r.Accepted) > 0 && (r.Verdict != VerdictDecided || r.Outcome != lookup.Verified) {
		return invalid("accepted keys in a %s answer", describe(r))
	}
	res := lookup.Result{Outcome: r.Outcome, User: r.User, Detail: r.Detail}
	for i, k := range r.Accepted {
		a, err := k.accepted()
		if err != nil {
			return invalid("accepted key %d: %v", i, err)
		}
		res.Accepted = append(res.Accepted, a)
	}
	if err := r.checkRejected(); err != nil {
		return invalid("%v", err)
	}
	for _, rj := range r.Rejected {
		res.Rejected = append(res.Rejected, keys.Rejected{
			Block:       rj.Block,
			Reason:      keys.Reason(rj.Reason),
			Detail:      rj.Detail,
			Fingerprint: rj.Fingerprint,
			Caller:      rj.Caller,
			RequestID:   rj.RequestID,
		})
	}
	for reason, n := range r.RejectedMore {
		if res.RejectedMore == nil {
			res.RejectedMore = make(map[keys.Reason]int, len(r.RejectedMore))
		}
		res.RejectedMore[keys.Reason(reason)] = n
	}
	if r.Verdict == VerdictFailed {
		return res, errors.New(r.Error)
	}
	return res, nil
}

func describe(r Response) string {
	if r.Verdict != VerdictDecided {
		return r.Verdict.String()
	}
	return r.Outcome.String()
}

// accepted re-parses k with the one key-line rule (keys.ParseLine). sshd reads the line as
// authorized_keys: only a bare key in canonical form may reach it.
func (k AcceptedKey) accepted() (keys.Accepted, error) {
	key, reason, detail := keys.ParseLine(k.Line)
	if reason != "" {
		return keys.Accepted{}, fmt.Errorf("%s: %s", reason, detail)
	}
	if k.Line != strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) {
		return keys.Accepted{}, errors.New("line is not in canonical \"TYPE BASE64\" form")
	}
	if fp := ssh.FingerprintSHA256(key); fp != k.Fingerprint {
		return keys.Accepted{}, fmt.Errorf("fingerprint %.80q is not the key's (%s)", k.Fingerprint, fp)
	}
	if k.Expires <= 0 {
		return keys.Accepted{}, errors.New("no expiry")
	}
	return keys.Accepted{
		Line:        k.Line,
		Key:         key,
		Fingerprint: k.Fingerprint,
		Caller:      k.Caller,
		RequestID:   k.RequestID,
		InstanceID:  k.InstanceID,
		Expires:     time.Unix(k.Expires, 0),
		Block:       k.Block,
	}, nil
}

// answers checks that r answers req: about the same user and, when req names a key, with no
// other key. It returns r's Result.
func (r Response) answers(req Request) (lookup.Result, error) {
	res, err := r.Result()
	if errors.Is(err, ErrNoVerdict) {
		return lookup.Result{}, err
	}
	if r.User != req.User {
		return lookup.Result{}, fmt.Errorf("%w: answer is about user %q, not %q", ErrInvalidResponse, r.User, req.User)
	}
	// Expiry is checked again here, against this process's clock: a confused or lagging service
	// must not extend a key's life.
	now := time.Now()
	for _, a := range res.Accepted {
		if !a.Expires.After(now) {
			return lookup.Result{}, fmt.Errorf("%w: accepted key %s expired at %s", ErrInvalidResponse, a.Fingerprint, a.Expires.UTC().Format(time.RFC3339))
		}
	}
	if req.Fingerprint != "" {
		fp, perr := keys.ParseFingerprint(req.Fingerprint)
		if perr != nil {
			return lookup.Result{}, fmt.Errorf("request: %w", perr)
		}
		for _, a := range res.Accepted {
			if !fp.Matches(a.Key) {
				return lookup.Result{}, fmt.Errorf("%w: key %s is not the requested %s", ErrInvalidResponse, a.Fingerprint, fp)
			}
		}
	}
	return res, err
}
