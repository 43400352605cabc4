package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/capture"
	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/lookup"
)

const captureUsage = `usage: eic-agent capture --user NAME --out DIR [--config FILE]

Saves what IMDS serves for a login as NAME (key bundle, signer chain, staples, instance id,
placement, domain) and the time into DIR, a new or empty directory, with a README holding the
"eic-authorized-keys verify" command that replays the login offline.
`

// captureTimeout bounds the whole capture: a few more requests than a login makes.
const captureTimeout = 30 * time.Second

func runCapture(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eic-agent capture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { _, _ = io.WriteString(stderr, captureUsage) }
	userArg := fs.String("user", "", "the OS user `NAME` whose login to capture (required)")
	out := fs.String("out", "", "new or empty `DIR` to save into (required)")
	configPath := fs.String("config", "", "config file (default "+config.DefaultPath+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *userArg == "" || *out == "" || fs.NArg() != 0 {
		fmt.Fprintf(stderr, "eic-agent capture: --user and --out are required, and nothing else\n%s", captureUsage)
		return exitUsage
	}
	cfg, err := config.Load(orDefault(*configPath), *configPath != "")
	if err != nil {
		fmt.Fprintf(stderr, "eic-agent capture: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), captureTimeout)
	defer cancel()
	m, err := capture.Capture(ctx, capture.Config{
		Client:  lookup.NewDirect(cfg, nil).IMDS(),
		User:    *userArg,
		Dir:     *out,
		CA:      cfg.Trust.CA,
		Domains: cfg.AllowedDomains(),
	})
	if err != nil {
		fmt.Fprintf(stderr, "eic-agent capture: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "captured %s's login on %s at %s into %s\n", m.User, m.InstanceID, m.CapturedAt.Format(time.RFC3339), *out)
	for _, n := range m.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	if len(m.Replay) > 0 {
		fmt.Fprintf(stdout, "replay: cd %s && %s\n", *out, strings.Join(m.Replay, " "))
	}
	return exitOK
}
