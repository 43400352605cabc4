package imds

import (
	"errors"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
)

func TestProbeReportsTheServersDate(t *testing.T) {
	f := newFixture(t, emulator.Config{}, nil)
	f.clock.Advance(-90 * time.Second) // an IMDS whose clock is 90 s behind ours
	p, err := f.client(Config{}).Probe(deadline(t, 5*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.InstanceID != emulator.DefaultInstanceID {
		t.Errorf("instance id %q, want %q", p.InstanceID, emulator.DefaultInstanceID)
	}
	want := f.clock.Now().UTC().Truncate(time.Second)
	if !p.Date.Equal(want) {
		t.Errorf("Date %v, want the emulator's clock %v", p.Date, want)
	}
	if p.Sent.IsZero() || p.Received.Before(p.Sent) {
		t.Errorf("Sent %v, Received %v: want an interval on the caller's clock", p.Sent, p.Received)
	}
	if got := f.rawPaths(); len(got) != 2 || got[0] != "PUT "+tokenPath || got[1] != "GET "+meta+"instance-id" {
		t.Errorf("requests %q, want the token PUT and the instance-id GET", got)
	}
}

func TestProbeFailsWithoutAToken(t *testing.T) {
	f := newFixture(t, emulator.Config{}, nil)
	f.emu.SetFaults(emulator.Faults{NoTokens: true})
	_, err := f.client(Config{}).Probe(deadline(t, 5*time.Second), nil)
	if !errors.Is(err, ErrTokenRefused) {
		t.Fatalf("err %v, want ErrTokenRefused", err)
	}
}
