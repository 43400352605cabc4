// Command eic-demo shows EC2 Instance Connect working end to end on this machine, without
// changing it: inside private namespaces it starts the IMDS emulator, a real sshd whose
// AuthorizedKeysCommand is eic-authorized-keys, and logs in with ssh. Needs root and OpenSSH;
// `make demo` installs what it needs and builds everything first.
//
//	eic-demo [--bin DIR]
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

	"github.com/eic-agent/eic-agent/agent/testenv"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: eic-demo [--bin DIR]
       eic-demo --version | --help

Shows an EC2 Instance Connect login end to end without changing this machine: in private
namespaces, the IMDS emulator, a real sshd whose AuthorizedKeysCommand is eic-authorized-keys,
and ssh. Needs root and OpenSSH (make demo installs and builds what it needs).

  --bin DIR   directory holding the built eic-authorized-keys (default: this program's own)
`

func main() {
	if testenv.Inside() {
		if err := testenv.Demo(os.Stdout); err != nil {
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
	bin := fs.String("bin", filepath.Dir(self), "directory holding the built eic-authorized-keys")
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
		fmt.Fprintf(stderr, "eic-demo: too many arguments: %q (the demo takes only --bin DIR)\n%s", fs.Args(), usage)
		return 2
	}
	if reason := testenv.CanEnter(); reason != "" {
		fmt.Fprintln(stderr, "eic-demo:", reason)
		return 2
	}
	if _, err := os.Stat(filepath.Join(*bin, "eic-authorized-keys")); err != nil {
		fmt.Fprintf(stderr, "eic-demo: %v (run make build, or pass --bin)\n", err)
		return 2
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fmt.Fprintln(stderr, "eic-demo:", err)
		return 2
	}
	code, err := testenv.Enter("EIC_TESTENV_BIN=" + abs)
	if err != nil {
		fmt.Fprintln(stderr, "eic-demo:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
