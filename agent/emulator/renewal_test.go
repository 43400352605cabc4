package emulator

import (
	"bytes"
	"testing"
	"time"
)

// TestStaplesServedUntilRenewed: IMDS serves the same staple bytes until AWS renews them, and the
// warm service's revocation check compares bytes, so the emulator must too; anything a staple
// depends on (revocation, rotation, renewal, the clock past a renewal period) gives new bytes.
func TestStaplesServedUntilRenewed(t *testing.T) {
	e, _, clk := start(t, Config{})
	staple := func() []byte {
		t.Helper()
		der, err := e.StapleDER(e.PKI().Signer.Cert, StapleGood)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	first := staple()
	clk.Advance(time.Hour)
	if !bytes.Equal(staple(), first) {
		t.Fatal("the staple changed between two requests with nothing renewed")
	}
	steps := []struct {
		name   string
		change func()
	}{
		{"renewed", e.RenewStaples},
		{"a-renewal-period-later", func() { clk.Advance(stapleRenewal) }},
		{"revoked", e.RevokeSigner},
		{"rotated", func() {
			if err := e.RotateSigner(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	prev := first
	for _, st := range steps {
		st.change()
		got := staple()
		if bytes.Equal(got, prev) {
			t.Errorf("%s: the same staple is served as before", st.name)
		}
		if !bytes.Equal(staple(), got) {
			t.Errorf("%s: the staple changed again on the next request", st.name)
		}
		prev = got
	}
}
