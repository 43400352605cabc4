// Command eic-demo shows EC2 Instance Connect working end to end on this machine, without
// changing it: inside private namespaces it starts the IMDS emulator, a real sshd whose
// AuthorizedKeysCommand is eic-authorized-keys, and logs in with ssh. Needs root and OpenSSH;
// `make demo` installs what it needs and builds everything first.
//
//	eic-demo [--bin DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/eic-agent/eic-agent/agent/testenv"
)

func main() {
	if testenv.Inside() {
		if err := testenv.Demo(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "eic-demo:", err)
			os.Exit(1)
		}
		return
	}
	self, _ := os.Executable()
	bin := flag.String("bin", filepath.Dir(self), "directory holding the built eic-authorized-keys")
	flag.Parse()
	if reason := testenv.CanEnter(); reason != "" {
		fmt.Fprintln(os.Stderr, "eic-demo:", reason)
		os.Exit(2)
	}
	if _, err := os.Stat(filepath.Join(*bin, "eic-authorized-keys")); err != nil {
		fmt.Fprintf(os.Stderr, "eic-demo: %v (run make build, or pass --bin)\n", err)
		os.Exit(2)
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "eic-demo:", err)
		os.Exit(2)
	}
	code, err := testenv.Enter("EIC_TESTENV_BIN=" + abs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "eic-demo:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
