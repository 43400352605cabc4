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

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/audit"
	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/service"
	"github.com/eic-agent/eic-agent/agent/wire"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

const usage = `usage: eic-agent run [--config FILE]
       eic-agent doctor [--config FILE] [--user NAME] [--json]
       eic-agent logins [--since TIME] [--until TIME] [--user NAME] [--json] [--source journal|FILE]
       eic-agent capture --user NAME --out DIR [--config FILE]
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
		return runService(args[1:], stdout, stderr)
	case "doctor":
		return runDoctor(args[1:], stdout, stderr)
	case "logins":
		return runLogins(args[1:], stdout, stderr)
	case "capture":
		return runCapture(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		_, _ = io.WriteString(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "eic-agent: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

func runService(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eic-agent run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // -h is answered below, on stdout; a bad flag is named by fs itself
	configPath := fs.String("config", "", "config file (default "+config.DefaultPath+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = io.WriteString(stdout, usage)
			return exitOK
		}
		fmt.Fprintln(stderr, "eic-agent run: see eic-agent --help")
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "eic-agent run: too many arguments: %q (run takes only --config FILE)\n%s", fs.Args(), usage)
		return exitUsage
	}
	// Signals are taken first: a stop or reload asked for while starting is acted on once serving.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	defer signal.Stop(reload)

	err := serve(ctx, *configPath, reload, stderr)
	if err == nil {
		return exitOK
	}
	// Once the logger exists serve logs its errors itself (to the terminal too when stderr is
	// one); printing them again would show each twice.
	if !errors.As(err, new(loggedError)) {
		fmt.Fprintf(stderr, "eic-agent: %v\n", err)
	}
	if errors.Is(err, errConfig) || errors.Is(err, service.ErrConfig) {
		return exitUsage
	}
	return exitFailed
}

// errConfig marks a configuration eic-agent cannot start with (exit status 2).
var errConfig = errors.New("configuration error")

// loggedError is an error serve has already logged: the caller only picks the exit status.
type loggedError struct{ err error }

func (e loggedError) Error() string { return e.err.Error() }
func (e loggedError) Unwrap() error { return e.err }

// serve is the service process: the configuration at path ("" is config.DefaultPath, which may
// be absent), its logger, the service account and the socket, then service.Serve until ctx ends.
// An error from before the logger exists is returned for the caller to print; every later one
// is logged here, once, and returned as a loggedError. Whatever it logs is synced before it
// returns.
func serve(ctx context.Context, path string, reload <-chan os.Signal, stderr io.Writer) error {
	explicit := path != ""
	if !explicit {
		path = config.DefaultPath
	}
	load := func() (config.Config, error) { return config.Load(path, explicit) }
	cfg, err := load()
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	log, err := audit.New(audit.Config{Target: cfg.Log.Target, Level: cfg.Log.Level, Stderr: stderr,
		Terminal: audit.IsTerminal(stderr)})
	if err != nil {
		return fmt.Errorf("%w: logging: %w", errConfig, err)
	}
	defer func() { _ = log.Sync() }()
	uid, err := wire.ServiceUID(cfg.Service.User)
	if err != nil {
		log.Error("cannot start: service.user cannot be trusted as the service account", zap.Error(err))
		return loggedError{fmt.Errorf("%w: %w", errConfig, err)}
	}
	ln, activated, err := service.Listen(cfg.Service.Socket)
	if err != nil {
		log.Error("cannot start: no socket to serve", zap.Error(err))
		return loggedError{err}
	}
	err = service.Serve(ctx, service.ServeConfig{
		Listener:   ln,
		Activated:  activated,
		Config:     cfg,
		Log:        log,
		ClientUID:  uid,
		Reload:     reload,
		Load:       load,
		ConfigFile: path,
		Version:    version,
	})
	if err != nil {
		log.Error("eic-agent failed", zap.Error(err))
		return loggedError{err}
	}
	return nil
}
