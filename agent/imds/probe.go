package imds

import (
	"context"
	"net/http"
	"time"
)

// Probe is what one reachability check saw: the instance id, fetched with a session token, and
// the metadata service's clock.
type Probe struct {
	InstanceID string
	// Date is the Date header of the instance-id answer (one-second resolution); zero when the
	// answer carried none or one that does not parse.
	Date time.Time
	// Sent and Received bracket the instance-id exchange on the caller's clock, so a clock
	// comparison can allow for the time the answer took.
	Sent, Received time.Time
}

// Probe fetches the instance id (with a session token, as every call does) and reports the Date
// header of the answer, for eic-agent doctor. now is the caller's clock (nil: time.Now). A
// client that holds no token yet sends exactly two requests: the token PUT and the GET.
func (c *Client) Probe(ctx context.Context, now func() time.Time) (Probe, error) {
	if now == nil {
		now = time.Now
	}
	rec := &recorder{}
	p := Probe{Sent: now()}
	body, err := c.getRecorded(ctx, "instance-id", rec)
	p.Received = now()
	if err != nil {
		return p, err
	}
	if id := string(body); len(id) > 256 || !ValidInstanceID(id) {
		return p, invalid("instance-id", "%s is not i- and 8..32 lowercase hex digits", quoted(id))
	}
	p.InstanceID = string(body)
	last, _ := rec.snapshot()
	if d, err := http.ParseTime(last.date); err == nil {
		p.Date = d
	}
	return p, nil
}
