// Command eic-agent is the warm EC2 Instance Connect service:
//
//	eic-agent run [--config FILE]   serve the helper's queries (systemd: Type=notify)
//	eic-agent version               print the version
//
// run answers on a unix socket (from systemd socket activation, else created at
// service.socket), reloads its configuration on SIGHUP and stops cleanly on SIGTERM. Exit
// status: 0 after a clean stop, 1 when serving failed, 2 for bad usage or configuration.
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

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/service"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

const usage = `usage: eic-agent run [--config FILE]
       eic-agent version

run serves EC2 Instance Connect key lookups for eic-authorized-keys on a unix socket
(default config ` + config.DefaultPath + `).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_, _ = io.WriteString(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, "eic-agent", version)
		return exitOK
	case "run":
		return runService(args[1:], stderr)
	case "help", "-h", "--help":
		_, _ = io.WriteString(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "eic-agent: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

func runService(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("eic-agent run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { _, _ = io.WriteString(stderr, usage) }
	configPath := fs.String("config", "", "config file (default "+config.DefaultPath+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 0 {
		_, _ = io.WriteString(stderr, usage)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	defer signal.Stop(reload)

	err := service.Run(ctx, service.RunConfig{ConfigPath: *configPath, Reload: reload, Stderr: stderr, Version: version})
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, service.ErrConfig):
		fmt.Fprintf(stderr, "eic-agent: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "eic-agent: %v\n", err)
		return exitFailed
	}
}
