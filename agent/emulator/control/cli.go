package control

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

// Command is the eic-emulator command line; cmd/eic-emulator only turns Run's error into an
// exit code. Output meant for scripts goes to Stdout, logs and usage to Stderr.
type Command struct {
	Stdout, Stderr io.Writer
	// Version is what `eic-emulator --version` prints after the program name.
	Version string
	// Ready, when set, is called by serve once both listeners accept connections.
	Ready func(imdsAddr, controlAddr string)
}

// ErrUsage marks a command line that cannot run (exit status 2). The problem and the usage
// have already been written to Stderr. -h returns flag.ErrHelp instead (exit status 0), after
// writing the usage to Stdout: asked for, it is the command's output.
var ErrUsage = errors.New("usage")

// commandTimeout bounds each client subcommand: the API answers at once or not at all.
const commandTimeout = 30 * time.Second

const topUsage = `usage: eic-emulator COMMAND [flags]

A fake EC2 instance metadata service (IMDSv2) with EC2 Instance Connect, for tests and demos.

commands:
  serve          serve IMDS and the control API (see eic-emulator serve -h)
  push           push a public key, like aws ec2-instance-connect send-ssh-public-key
  revoke-signer  make the signer certificate's OCSP staple say revoked
  rotate-signer  switch to a new signer key and certificate under the same root
  fault          show, set or clear faults (latency, status, hang, reset, ...)
  staple-certs   show or choose what the OCSP staples' certs field carries
  counts         show (and reset) the requests counted per path
  root-ca        print the test root CA certificate (PEM) for a trust store

Every command but serve talks to the control API of a running serve (--control ADDR,
default ` + DefaultControlAddr + `). Run eic-emulator COMMAND -h for its flags.
`

// Run runs one command line (without the program name).
func (c *Command) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.Stderr, topUsage)
		return ErrUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "serve":
		return c.serve(ctx, name, rest)
	case "push":
		return c.push(ctx, rest)
	case "revoke-signer", "rotate-signer":
		return c.signer(ctx, name, rest)
	case "fault":
		return c.fault(ctx, rest)
	case "staple-certs":
		return c.stapleCerts(ctx, rest)
	case "counts":
		return c.counts(ctx, rest)
	case "root-ca":
		return c.rootCA(ctx, rest)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.Stdout, topUsage)
		return flag.ErrHelp
	case "version", "-version", "--version":
		if len(rest) > 0 {
			fmt.Fprintf(c.Stderr, "eic-emulator %s: too many arguments: %q\n", name, rest)
			return ErrUsage
		}
		fmt.Fprintln(c.Stdout, "eic-emulator", c.Version)
		return nil
	}
	if strings.HasPrefix(name, "-") {
		// The first eic-emulator had no subcommands: flags alone still mean serve.
		return c.serve(ctx, "", args)
	}
	fmt.Fprintf(c.Stderr, "eic-emulator: unknown command %q\n\n%s", name, topUsage)
	return ErrUsage
}

// flags makes the flag set of one subcommand; synopsis and about make its -h text.
func (c *Command) flags(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet("eic-emulator "+name, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eic-emulator %s %s\n\n%s\n", name, synopsis, about)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(fs.Output(), "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args: -h writes the usage to Stdout and returns flag.ErrHelp; a bad flag
// is named, with the usage, on Stderr and is an ErrUsage.
func (c *Command) parseFlags(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {} // flag calls it for -h and for errors alike; we tell them apart below
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(c.Stdout)
		usage()
		fs.SetOutput(c.Stderr)
		return err
	case err != nil:
		usage() // after flag's own line naming the bad flag
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return nil
}

// parse parses args that are flags only; a problem found later is reported with usageError.
func (c *Command) parse(fs *flag.FlagSet, args []string) error {
	if err := c.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// usageError reports a command line that parsed but cannot run, in two lines: what is wrong
// and where the usage is.
func usageError(fs *flag.FlagSet, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(fs.Output(), "%s: %s\nrun '%s -h' for usage\n", fs.Name(), msg, fs.Name())
	return fmt.Errorf("%w: %s", ErrUsage, msg)
}

// client adds --control to fs and returns a function that makes the client once parsed.
func client(fs *flag.FlagSet) func() *Client {
	addr := fs.String("control", DefaultControlAddr, "control API of the running emulator: `ADDR` or URL")
	return func() *Client { return &Client{BaseURL: BaseURL(*addr)} }
}

// apiError adds what to do when no emulator answers.
func apiError(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w (is `eic-emulator serve` running, with this --control address?)", err)
	}
	return err
}

func (c *Command) push(ctx context.Context, args []string) error {
	fs := c.flags("push", "--user USER --key FILE [flags]",
		"Pushes an OpenSSH public key for USER, as aws ec2-instance-connect send-ssh-public-key\n"+
			"does, and prints the answer the AWS CLI prints.")
	user := fs.String("user", "", "OS `USER` the key is for (required)")
	keyFile := fs.String("key", "", "public key `FILE`, e.g. ~/.ssh/id_ed25519.pub (required)")
	instanceID := fs.String("instance-id", "", "instance `ID` to sign the key for (default: the emulator's)")
	ttl := fs.Duration("ttl", 0, "the key stays valid for `D` (whole seconds; negative: already expired)\n(default: the emulator's --key-ttl, 60s unless set)")
	caller := fs.String("caller", "", "IAM principal `ARN` recorded in #Caller (default: the emulator's)")
	newClient := client(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	switch {
	case *user == "" || *keyFile == "":
		return usageError(fs, "--user and --key are required")
	case *ttl%time.Second != 0:
		return usageError(fs, "--ttl %v is not a whole number of seconds", *ttl)
	}
	key, err := readPublicKey(*keyFile)
	if err != nil {
		return err
	}
	cl := newClient()
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	res, err := cl.Push(ctx, PushRequest{InstanceID: *instanceID, OSUser: *user, PublicKey: key,
		TTLSeconds: int64(*ttl / time.Second), Caller: *caller})
	if err != nil {
		return apiError(err)
	}
	out, _ := json.MarshalIndent(awsPushAnswer{RequestID: res.RequestID, Success: res.Success}, "", "    ")
	_, err = fmt.Fprintf(c.Stdout, "%s\n", out)
	return err
}

// readPublicKey reads a public key file, refusing private keys so they are never sent.
func readPublicKey(path string) (string, error) {
	data, err := readBounded(path)
	if err != nil {
		return "", fmt.Errorf("read public key: %w", err)
	}
	if strings.Contains(string(data), "PRIVATE KEY") {
		return "", fmt.Errorf("read public key %s: this is a private key; pass the .pub file", path)
	}
	return strings.TrimSpace(string(data)), nil
}

func (c *Command) signer(ctx context.Context, name string, args []string) error {
	about := "Makes every OCSP staple served for the current signer certificate say revoked, so\n" +
		"no key verifies until rotate-signer. Clearing faults does not undo it."
	if name == "rotate-signer" {
		about = "Replaces the signer key and certificate with new ones under the same intermediate\n" +
			"and root (trust stores stay valid). Keys pushed before keep the old signature and\n" +
			"fail verification, as after a rotation on AWS."
	}
	fs := c.flags(name, "[--control ADDR]", about)
	newClient := client(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	cl := newClient()
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	verb, call := "revoked", cl.RevokeSigner
	if name == "rotate-signer" {
		verb, call = "new signer", cl.RotateSigner
	}
	info, err := call(ctx)
	if err != nil {
		return apiError(err)
	}
	_, err = fmt.Fprintf(c.Stdout, "%s %s serial %s (staple name %s), valid until %s\n",
		verb, info.Subject, info.Serial, info.SHA1, info.NotAfter.Format(time.RFC3339))
	return err
}

const stapleCertsAbout = `Without FORM, prints the certs form the staples carry now. With FORM, makes every staple
served from now on (the signer's and the intermediate's) carry it, and prints it. Every form
is a correctly signed staple that a verifier must accept; it combines with the staple faults
(with --signer-staple delegated, the responder is added in front of the issuer).
FORMs: default (nothing; the responder when delegated), none (nothing at all), issuer (the
issuer, as openssl ocsp -rsigner CA writes), issuer-chain (the issuer and the certificates
above it), junk (an unrelated certificate, then the issuer).`

func (c *Command) stapleCerts(ctx context.Context, args []string) error {
	fs := c.flags("staple-certs", "[--control ADDR] [FORM]", stapleCertsAbout)
	newClient := client(fs)
	// FORM may come before or after the flags: parse what follows it again.
	if err := c.parseFlags(fs, args); err != nil {
		return err
	}
	var form string
	if fs.NArg() > 0 {
		form = fs.Arg(0)
		if err := c.parse(fs, fs.Args()[1:]); err != nil {
			return err
		}
	}
	var set pki.Certs
	if form != "" {
		var err error
		if set, err = pki.ParseCerts(form); err != nil {
			return usageError(fs, "%v", err)
		}
	}
	cl := newClient()
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	now, err := cl.StapleCerts(ctx)
	if form != "" {
		now, err = cl.SetStapleCerts(ctx, set)
	}
	if err != nil {
		return apiError(err)
	}
	_, err = fmt.Fprintln(c.Stdout, now)
	return err
}

func (c *Command) counts(ctx context.Context, args []string) error {
	fs := c.flags("counts", "[--reset] [--control ADDR]",
		"Prints the IMDS requests counted per path (\"N PATH\", sorted by path), then \"N total\".")
	reset := fs.Bool("reset", false, "zero the counters, in the same step as reading them")
	newClient := client(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	cl := newClient()
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	get := cl.Counts
	if *reset {
		get = cl.ResetCounts
	}
	counts, err := get(ctx)
	if err != nil {
		return apiError(err)
	}
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(counts.Paths)) {
		fmt.Fprintf(&b, "%d %s\n", counts.Paths[p], p)
	}
	fmt.Fprintf(&b, "%d total\n", counts.Total)
	_, err = io.WriteString(c.Stdout, b.String())
	return err
}

func (c *Command) rootCA(ctx context.Context, args []string) error {
	fs := c.flags("root-ca", "[--out FILE] [--control ADDR]",
		"Prints the emulator's test root CA certificate (PEM): the trust anchor for its signer chain.")
	out := fs.String("out", "", "write the certificate to `FILE` instead of printing it")
	newClient := client(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	cl := newClient()
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	pem, err := cl.RootCA(ctx)
	if err != nil {
		return apiError(err)
	}
	if *out != "" {
		if err := os.WriteFile(*out, pem, 0o644); err != nil {
			return fmt.Errorf("write root CA: %w", err)
		}
		return nil
	}
	_, err = c.Stdout.Write(pem)
	return err
}
