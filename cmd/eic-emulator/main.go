// Command eic-emulator serves a fake EC2 instance metadata service (agent/emulator) for people,
// scripts and `make demo`, and drives a running one through its control API
// (agent/emulator/control holds all of it; this file only maps errors to exit codes).
//
//	eic-emulator serve --imds 127.0.0.1:1338 --root-ca-out /tmp/eic-root.pem &
//	eic-emulator push --user ec2-user --key ~/.ssh/id_ed25519.pub
//	eic-emulator fault --latency 2s
//	eic-emulator staple-certs issuer
//	eic-emulator counts
//	eic-emulator --version
//
// Exit status: 0 on success or -h, 2 for a usage error, 1 for anything else (one line on
// stderr). See docs/emulator.md. Nothing here is secure; keep it on loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/eic-agent/eic-agent/agent/emulator/control"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd := &control.Command{Stdout: os.Stdout, Stderr: os.Stderr, Version: version}
	code := exitCode(cmd.Run(ctx, os.Args[1:]), os.Stderr)
	stop()
	os.Exit(code)
}

// exitCode reports err (usage errors are already reported) and picks the exit status.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, control.ErrUsage):
		return 2
	}
	fmt.Fprintln(stderr, "eic-emulator:", err)
	return 1
}
