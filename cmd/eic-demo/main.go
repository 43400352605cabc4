// Command eic-demo shows EC2 Instance Connect working end to end on this machine, without
// changing it: inside private namespaces it starts the IMDS emulator, a real sshd whose
// AuthorizedKeysCommand is eic-authorized-keys, and logs in with ssh. Needs root and OpenSSH;
// `make demo` installs what it needs and builds everything first.
//
// It pushes the key with the AWS CLI (--aws; by default Debian's /usr/bin/aws, else aws on
// PATH), pointed at the emulator with --endpoint-url, and falls back to `eic-emulator push`,
// saying so, when there is none.
//
//	eic-demo [--bin DIR] [--aws PATH]
//	eic-demo --version | --help
//
// Exit status: 0 when every step behaved, 1 when one did not, 2 for bad usage or when the
// demo cannot run here.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/eic-agent/eic-agent/agent/emulator/control"
	"github.com/eic-agent/eic-agent/agent/testenv"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// cliEnv hands the AWS CLI's path to the re-executed demo inside the namespaces.
const cliEnv = "EIC_DEMO_AWS"

const usage = `usage: eic-demo [--bin DIR] [--aws PATH]
       eic-demo --version | --help

Shows an EC2 Instance Connect login end to end without changing this machine: in private
namespaces, the IMDS emulator, a real sshd whose AuthorizedKeysCommand is eic-authorized-keys,
and ssh. Needs root and OpenSSH (make demo installs and builds what it needs).

  --bin DIR   directory holding the built eic-authorized-keys and eic-emulator
              (default: this program's own)
  --aws PATH  the AWS CLI to push with (default: /usr/bin/aws, else aws on PATH;
              "" pushes with eic-emulator push instead, and the transcript says so)
`

func main() {
	if testenv.Inside() {
		if err := testenv.Demo(os.Stdout, os.Getenv(cliEnv), control.NewHandlerWithFreshCredentials); err != nil {
			fmt.Fprintln(os.Stderr, "eic-demo:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run checks the command line and then enters the namespaces, where main runs the demo.
func run(args []string, stdout, stderr io.Writer) int {
	self, _ := os.Executable()
	fs := flag.NewFlagSet("eic-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // -h is answered below, on stdout; a bad flag is named by fs itself
	bin := fs.String("bin", filepath.Dir(self), "directory holding the built eic-authorized-keys and eic-emulator")
	cli := fs.String("aws", testenv.FindAWSCLI(), "the AWS CLI to push with (\"\": push with eic-emulator instead)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = io.WriteString(stdout, usage)
			return 0
		}
		_, _ = io.WriteString(stderr, usage)
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "eic-demo", version)
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "eic-demo: too many arguments: %q (the demo takes only --bin DIR and --aws PATH)\n%s", fs.Args(), usage)
		return 2
	}
	if reason := testenv.CanEnter(); reason != "" {
		fmt.Fprintln(stderr, "eic-demo:", reason)
		return 2
	}
	for _, name := range []string{"eic-authorized-keys", "eic-emulator"} {
		if _, err := os.Stat(filepath.Join(*bin, name)); err != nil {
			fmt.Fprintf(stderr, "eic-demo: %v (run make build, or pass --bin)\n", err)
			return 2
		}
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fmt.Fprintln(stderr, "eic-demo:", err)
		return 2
	}
	code, err := testenv.Enter("EIC_TESTENV_BIN="+abs, cliEnv+"="+*cli)
	if err != nil {
		fmt.Fprintln(stderr, "eic-demo:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
