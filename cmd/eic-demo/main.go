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
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/control"
	"github.com/eic-agent/eic-agent/agent/testenv"
)

// cliEnv hands the AWS CLI's path to the re-executed demo inside the namespaces.
const cliEnv = "EIC_DEMO_AWS"

func main() {
	if testenv.Inside() {
		if err := testenv.Demo(os.Stdout, os.Getenv(cliEnv), controlAPI); err != nil {
			fmt.Fprintln(os.Stderr, "eic-demo:", err)
			os.Exit(1)
		}
		return
	}
	self, _ := os.Executable()
	bin := flag.String("bin", filepath.Dir(self), "directory holding the built eic-authorized-keys and eic-emulator")
	cli := flag.String("aws", testenv.FindAWSCLI(), "the AWS CLI to push with (\"\": push with eic-emulator instead)")
	flag.Parse()
	if reason := testenv.CanEnter(); reason != "" {
		fmt.Fprintln(os.Stderr, "eic-demo:", reason)
		os.Exit(2)
	}
	for _, name := range []string{"eic-authorized-keys", "eic-emulator"} {
		if _, err := os.Stat(filepath.Join(*bin, name)); err != nil {
			fmt.Fprintf(os.Stderr, "eic-demo: %v (run make build, or pass --bin)\n", err)
			os.Exit(2)
		}
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "eic-demo:", err)
		os.Exit(2)
	}
	code, err := testenv.Enter("EIC_TESTENV_BIN="+abs, cliEnv+"="+*cli)
	if err != nil {
		fmt.Fprintln(os.Stderr, "eic-demo:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// controlAPI is the emulator's control API, whose AWS route checks signatures against a key
// pair made for this run and written to credentialsFile for the AWS CLI.
func controlAPI(emu *emulator.Emulator, credentialsFile string) (http.Handler, error) {
	creds, err := control.NewCredentials()
	if err != nil {
		return nil, err
	}
	if err := creds.WriteFile(credentialsFile); err != nil {
		return nil, err
	}
	return control.NewHandler(emu, control.HandlerConfig{Credentials: creds}), nil
}
