// Command eic-authorized-keys is the AuthorizedKeysCommand for EC2 Instance Connect:
//
//	eic-authorized-keys [--config FILE] USER [FINGERPRINT [TYPE KEY]]
//	eic-authorized-keys verify --keys FILE --signer-chain FILE --ocsp-dir DIR --instance-id ID \
//	    --expected-signer CN --ca FILE|DIR [--fingerprint FP] [--user NAME] [--now UNIX] [--explain]
//
// When the config's [service] table enables it, the helper asks the warm eic-agent service over
// its unix socket first and verifies directly when the service gives no verdict; the output,
// audit records and exit status are the same either way.
//
// When the config's [chain] table names another AuthorizedKeysCommand, the helper runs it
// alongside its own lookup and prints its keys after the EC2 Instance Connect ones; TYPE and KEY
// (sshd's %t %k) are passed on to it and otherwise unused (docs/chaining.md).
//
// stdout carries only verified keys; everything else goes to the log. Exit status: 0 when the
// lookup ran (with or without keys), 1 when verification could not complete (0 all the same
// when a chained command gave keys: sshd would drop them otherwise), 2 for bad usage or
// configuration. verify exits 0 only when at least one key was accepted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/audit"
	"github.com/eic-agent/eic-agent/agent/chain"
	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/wire"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

const usage = `usage: eic-authorized-keys [--config FILE] USER [FINGERPRINT [TYPE KEY]]
       eic-authorized-keys verify --keys FILE --signer-chain FILE --ocsp-dir DIR --instance-id ID
                                  --expected-signer CN --ca FILE|DIR [--fingerprint FP] [--user NAME] [--now UNIX] [--explain]
       eic-authorized-keys --version | --help

Prints the EC2 Instance Connect keys pushed for USER that pass every check, one per line.
Configure sshd with:
  AuthorizedKeysCommand /usr/sbin/eic-authorized-keys %u %f
  AuthorizedKeysCommandUser ec2-instance-connect
(%u %f %t %k when a chained command in the config's [chain] table needs the key itself.)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) >= 2 && args[0] == "verify" && len(args[1]) > 0 && args[1][0] == '-' {
		return runVerify(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("eic-authorized-keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // -h is answered below, on stdout; a bad flag is named by fs itself
	configPath := fs.String("config", "", "config file (default "+config.DefaultPath+")")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = io.WriteString(stdout, usage)
			return exitOK
		}
		_, _ = io.WriteString(stderr, usage)
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintln(stdout, "eic-authorized-keys", version)
		return exitOK
	}
	switch n := fs.NArg(); {
	case n == 0:
		fmt.Fprintf(stderr, "eic-authorized-keys: missing the user name\n%s", usage)
		return exitUsage
	case n == 3 || n > 4:
		fmt.Fprintf(stderr, "eic-authorized-keys: %d arguments: want USER, then at most a FINGERPRINT, then the key's TYPE and KEY together (sshd: %%u %%f, or %%u %%f %%t %%k)\n%s", n, usage)
		return exitUsage
	}
	user, fpArg, keyType, keyArg := fs.Arg(0), fs.Arg(1), fs.Arg(2), fs.Arg(3)

	cfg, cfgErr := config.Load(orDefault(*configPath), *configPath != "")
	log, err := audit.New(audit.Config{Target: cfg.Log.Target, Level: cfg.Log.Level, Stderr: stderr,
		Terminal: audit.IsTerminal(stderr)})
	if err != nil {
		fmt.Fprintf(stderr, "eic-authorized-keys: logging: %v\n", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()
	if cfgErr != nil {
		log.Error("configuration error; no EC2 Instance Connect keys will be served until it is fixed", zap.Error(cfgErr))
		return exitUsage
	}
	if user == "" {
		log.Warn("no EC2 Instance Connect lookup: the user name is empty")
		return exitUsage
	}
	if hint := commandLike(user); hint != "" {
		// sshd may pass any account name, these included: look it up, and say how it was read.
		log.Info("argument taken as the user name to look up", zap.String("user", user), zap.String("hint", hint))
	}
	var fp *keys.Fingerprint
	if fpArg != "" {
		f, err := keys.ParseFingerprint(fpArg)
		if err != nil {
			log.Warn("refusing lookup: bad fingerprint argument", zap.String("user", user), zap.Error(err))
			return exitUsage
		}
		fp = &f
	}
	if err := checkKeyArgs(keyType, keyArg); err != nil {
		log.Warn("refusing lookup: bad key arguments", zap.String("user", user), zap.Error(err))
		return exitUsage
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.Deadline.Duration)
	defer cancel()
	chained := startChain(ctx, cfg, chain.Args{User: user, Fingerprint: fpArg, KeyType: keyType, Key: keyArg})
	out, code := serveEIC(ctx, cfg, user, fp, log)
	if more := chained.wait(log); more != "" {
		if code != exitOK {
			// sshd drops every key of a command that exits non-zero: the chained command's
			// users must not lose theirs to an IMDS outage. No EIC key was printed, so the
			// EIC failure still fails closed; the error above is its record.
			log.Warn("exiting 0 although the EC2 Instance Connect lookup failed, so that sshd uses the chained command's keys; no EC2 Instance Connect key was printed",
				zap.String("user", user))
			code = exitOK
		}
		out += more
	}
	if _, err := io.WriteString(stdout, out); err != nil {
		log.Error("write keys to sshd", zap.Error(err))
		return exitFailed
	}
	return code
}

// serveEIC decides the login's EC2 Instance Connect keys and returns them as sshd reads them,
// with the exit status they call for.
func serveEIC(ctx context.Context, cfg config.Config, user string, fp *keys.Fingerprint, log *zap.Logger) (string, int) {
	if err := lookup.ValidateUser(user); err != nil {
		// sshd only asks about existing accounts, and one whose name the service would never
		// accept simply has no keys: say so and succeed, so sshd logs no failure for it.
		log.Warn("no EC2 Instance Connect lookup for this user", zap.Error(err))
		return "", exitOK
	}
	res, path, err := findKeys(ctx, cfg, lookup.Query{User: user, Fingerprint: fp}, log)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (gave up after the %s deadline)", err, cfg.Deadline.Duration)
		}
		log.Error("EC2 Instance Connect lookup failed; no EC2 Instance Connect keys served", zap.String("user", user),
			zap.String("path", path), zap.Error(err))
		return "", exitFailed
	}
	return res.Lines(), exitOK
}

// findKeys asks the eic-agent service when the config enables it and decides the login
// directly when the service gives no verdict (it cannot be reached or trusted, is busy, going
// away, or answers out of shape). Either way the result is recorded once, here, with the path
// that produced it.
func findKeys(ctx context.Context, cfg config.Config, q lookup.Query, log *zap.Logger) (lookup.Result, string, error) {
	if cfg.Service.Enabled {
		req := wire.Request{User: q.User}
		if q.Fingerprint != nil {
			req.Fingerprint = q.Fingerprint.String()
		}
		res, err := wire.Ask(ctx, cfg.Service.Socket, req, wire.ClientOptions{
			ConnectTimeout: cfg.Service.ConnectTimeout.Duration,
			Timeout:        serviceBudget(ctx),
			TrustedUser:    cfg.Service.User,
		})
		if !errors.Is(err, wire.ErrNoVerdict) {
			res.Record(log.With(zap.String("path", pathService)), err)
			log.Debug("EC2 Instance Connect lookup answered", zap.String("user", q.User), zap.String("path", pathService))
			return res, pathService, err
		}
		log.Debug("eic-agent service unavailable; verifying directly", zap.String("socket", cfg.Service.Socket), zap.Error(err))
	}
	res, err := lookup.Login(ctx, lookup.NewDirect(cfg, nil), q, time.Now)
	res.Record(log.With(zap.String("path", pathDirect)), err)
	log.Debug("EC2 Instance Connect lookup answered", zap.String("user", q.User), zap.String("path", pathDirect))
	return res, pathDirect, err
}

// commandLike says how to get what a person who typed user as a command probably wanted, or ""
// when user does not look like one of the program's own commands.
func commandLike(user string) string {
	switch user {
	case "version":
		return "for this program's version run eic-authorized-keys --version"
	case "help":
		return "for usage run eic-authorized-keys --help"
	case "verify":
		return "to verify a saved case give verify its flags (eic-authorized-keys verify --help)"
	}
	return ""
}

// The paths a login's answer can take, as audit records name them.
const (
	pathService = "service"
	pathDirect  = "direct"
)

// serviceBudget leaves the direct path half the time before ctx's deadline, so a service that
// hangs cannot make the login miss it.
func serviceBudget(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return wire.DefaultTimeout
	}
	return max(min(time.Until(dl)/2, wire.DefaultTimeout), time.Millisecond)
}

func orDefault(p string) string {
	if p == "" {
		return config.DefaultPath
	}
	return p
}
