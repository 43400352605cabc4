package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/doctor"
)

const doctorUsage = `usage: eic-agent doctor [--config FILE] [--user NAME] [--json] [--sshd-config FILE] [--sshd PATH]

doctor checks everything an EC2 Instance Connect login needs on this host and prints one line per
check (ok, warn or fail) with a remedy under each warning and failure. Run it as root: sshd -T
and the shadow entry need it. Exit status: 0 when nothing failed, 1 when a check failed, 2 for
bad usage or configuration.
`

// runDoctor is `eic-agent doctor`.
func runDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eic-agent doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below: --help to stdout, a usage error to stderr
	configPath := fs.String("config", "", "config file (default "+config.DefaultPath+")")
	user := fs.String("user", doctor.DefaultUser, "the OS user whose login to diagnose")
	asJSON := fs.Bool("json", false, "print a JSON array of {name, status, detail, remedy}")
	sshdConfig := fs.String("sshd-config", "", "the sshd_config sshd runs with, when not its default")
	sshd := fs.String("sshd", doctor.DefaultSSHD, "the sshd binary")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			_, _ = io.WriteString(stdout, doctorUsage)
			fs.PrintDefaults()
			return exitOK
		}
		_, _ = io.WriteString(stderr, doctorUsage)
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "eic-agent doctor: unexpected argument %q\n%s", fs.Arg(0), doctorUsage)
		return exitUsage
	}
	path, explicit := *configPath, *configPath != ""
	if !explicit {
		path = config.DefaultPath
	}
	cfg, err := config.Load(path, explicit)
	if err != nil {
		fmt.Fprintf(stderr, "eic-agent doctor: %v\n", err)
		return exitUsage
	}
	var sshdArgs []string
	if *sshdConfig != "" {
		sshdArgs = []string{"-f", *sshdConfig}
	}
	checks := doctor.New(doctor.Options{Config: cfg, User: *user, SSHD: *sshd, SSHDArgs: sshdArgs}).Run(context.Background())
	write := doctor.WriteText
	if *asJSON {
		write = doctor.WriteJSON
	}
	if err := write(stdout, checks); err != nil {
		fmt.Fprintf(stderr, "eic-agent doctor: write the report: %v\n", err)
		return exitFailed
	}
	if doctor.Failed(checks) {
		return exitFailed
	}
	return exitOK
}
