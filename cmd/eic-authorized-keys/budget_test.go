package main

import (
	"context"
	"testing"
	"time"

	"github.com/eic-agent/eic-agent/agent/wire"
)

func TestServiceBudget(t *testing.T) {
	if got := serviceBudget(context.Background()); got != wire.DefaultTimeout {
		t.Errorf("no deadline: budget %v; want %v", got, wire.DefaultTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if got := serviceBudget(ctx); got != wire.DefaultTimeout {
		t.Errorf("far deadline: budget %v; want the %v cap", got, wire.DefaultTimeout)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if got := serviceBudget(ctx); got > 2*time.Second || got < time.Second {
		t.Errorf("4s deadline: budget %v; want about half of it", got)
	}
}
