package logins

import (
	"sort"
	"time"
)

// Filter selects logins: zero values select everything.
type Filter struct {
	Since, Until time.Time
	User         string
}

// Join pairs each accepted login with its grant: the accept record for the same fingerprint
// and host, for the same user (or naming none, as upstream's do), logged within GrantWindow
// before the login or GrantSkew after it; of several, the nearest before, else the nearest
// after. A login with no such record has no principal. The result is in time order.
func Join(ev Events, f Filter) []Login {
	byFP := map[string][]Grant{}
	for _, g := range ev.Grants {
		byFP[g.Fingerprint] = append(byFP[g.Fingerprint], g)
	}
	var out []Login
	for _, a := range ev.Accepted {
		if (!f.Since.IsZero() && a.Time.Before(f.Since)) || (!f.Until.IsZero() && a.Time.After(f.Until)) ||
			(f.User != "" && a.User != f.User) {
			continue
		}
		l := Login{Time: a.Time, Host: a.Host, User: a.User, From: a.Addr.String(), Port: a.Port,
			KeyType: a.KeyType, Fingerprint: a.Fingerprint}
		if g, ok := grantFor(a, byFP[a.Fingerprint]); ok {
			l.Principal, l.RequestID = g.Caller, g.RequestID
		}
		out = append(out, l)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

func grantFor(a Accepted, grants []Grant) (Grant, bool) {
	if a.Cert {
		return Grant{}, false // EC2 Instance Connect never pushes certificates
	}
	var best Grant
	var bestD time.Duration
	found := false
	for _, g := range grants {
		if g.Host != a.Host || (g.User != "" && g.User != a.User) {
			continue
		}
		d := a.Time.Sub(g.Time) // > 0: the record came first, as it should
		if d > GrantWindow || d < -GrantSkew {
			continue
		}
		// Prefer records before the login, the latest of them; then the earliest after it.
		if !found || better(d, bestD) {
			best, bestD, found = g, d, true
		}
	}
	return best, found
}

func better(d, than time.Duration) bool {
	switch {
	case d >= 0 && than < 0:
		return true
	case d < 0 && than >= 0:
		return false
	case d >= 0:
		return d < than
	}
	return d > than
}
