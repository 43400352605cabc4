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

// parseOutcome is the inverse of lookup.Outcome.String for the outcomes a lookup can end in.
func parseOutcome(s string) (lookup.Outcome, bool) {
	for _, o := range []lookup.Outcome{lookup.Verified, lookup.NoSuchUser, lookup.NotEC2, lookup.NoKeys, lookup.NoCandidates} {
		if o.String() == s {
			return o, true
		}
	}
	return 0, false
}

// FromResult is the answer for a lookup that returned res and err. It carries what
// lookup.Record and Result.Lines need; the signer and the parsed bundle stay in the service.
// Every accepted key is in it; rejections are bounded (MaxRejectedItems).
func FromResult(res lookup.Result, err error) Response {
	r := Response{V: Version, User: res.User, Outcome: res.Outcome.String(), Detail: res.Detail}
	if err != nil {
		r.Failed, r.Error = true, err.Error()
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
	if r.Error != "" && !r.Failed {
		return lookup.Result{}, fmt.Errorf("%w: %s", ErrRefused, r.Error)
	}
	if r.Failed && r.Error == "" {
		return invalid("failed answer without an error")
	}
	if err := lookup.ValidateUser(r.User); err != nil {
		return invalid("%v", err)
	}
	outcome, ok := parseOutcome(r.Outcome)
	if !ok {
		return invalid("unknown outcome %.64q", r.Outcome)
	}
	// Direct mode accepts keys only from a verification that completed; anything else is a
	// confused service.
	if len(r.Accepted) > 0 && (r.Failed || outcome != lookup.Verified) {
		return invalid("accepted keys in a %s answer", describe(r, outcome))
	}
	res := lookup.Result{Outcome: outcome, User: r.User, Detail: r.Detail}
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
	if r.Failed {
		return res, errors.New(r.Error)
	}
	return res, nil
}

func describe(r Response, o lookup.Outcome) string {
	if r.Failed {
		return "failed"
	}
	return o.String()
}

// accepted re-parses k. sshd reads the line as authorized_keys: only a bare key may reach it.
func (k AcceptedKey) accepted() (keys.Accepted, error) {
	key, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(k.Line))
	if err != nil {
		return keys.Accepted{}, fmt.Errorf("line does not parse as a public key: %w", err)
	}
	if len(options) > 0 {
		return keys.Accepted{}, errors.New("line has authorized_keys options")
	}
	canonical := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	if comment != "" || len(rest) > 0 || k.Line != canonical {
		return keys.Accepted{}, errors.New("line is not in canonical \"TYPE BASE64\" form")
	}
	if _, isCert := key.(*ssh.Certificate); isCert {
		return keys.Accepted{}, fmt.Errorf("line is a certificate (%s)", key.Type())
	}
	if key.Type() == ssh.InsecureKeyAlgoDSA {
		return keys.Accepted{}, errors.New("line is a DSA key")
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
	if errors.Is(err, ErrInvalidResponse) || errors.Is(err, ErrRefused) {
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
