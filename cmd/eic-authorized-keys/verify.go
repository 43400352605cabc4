package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
)

const verifyUsage = `usage: eic-authorized-keys verify --keys FILE --signer-chain FILE --ocsp-dir DIR --instance-id ID
                                  --expected-signer CN --ca FILE|DIR [--fingerprint FP] [--user NAME] [--now UNIX] [--explain]

Runs a login's checks on a case saved from IMDS and prints the keys that pass; exits 0 only when
one does. --explain prints the signer's verdict and one line per block (numbered from 1, as the
audit log's block field) to stderr.

`

// runVerify is the offline verification of a saved case: the same checks as a login.
func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eic-authorized-keys verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files savedFiles
	fs.StringVar(&files.Keys, "keys", "", "saved key bundle (active-keys/USER)")
	fs.StringVar(&files.SignerChain, "signer-chain", "", "saved signer-cert PEM chain")
	fs.StringVar(&files.OCSPDir, "ocsp-dir", "", "directory of saved staples, one per file (base64 or DER)")
	fs.StringVar(&files.CA, "ca", "", "trusted roots: a PEM bundle file or a directory of PEM files")
	instanceID := fs.String("instance-id", "", "the instance id the keys must name")
	expected := fs.String("expected-signer", "", "the signer's expected CN, managed-ssh-signer.REGION.DOMAIN")
	fpArg := fs.String("fingerprint", "", "only accept this key (SHA256:... or MD5:...)")
	nowArg := fs.Int64("now", 0, "verify as of this Unix time (default: now)")
	explain := fs.Bool("explain", false, "print a verdict for every block to stderr")
	user := fs.String("user", "ec2-user", "the OS user the keys were saved for (only its name is checked)")
	fs.Usage = func() {} // -h is answered below, on stdout; a bad flag is named by fs itself
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = io.WriteString(stdout, verifyUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintln(stderr, "eic-authorized-keys verify: see eic-authorized-keys verify --help")
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "eic-authorized-keys verify: too many arguments: %q (verify takes only flags)\n", fs.Args())
		return exitUsage
	}
	var missing []string
	// In the order verifyUsage lists them, so the message reads the same every time.
	for _, f := range []struct{ name, v string }{{"keys", files.Keys}, {"signer-chain", files.SignerChain},
		{"ocsp-dir", files.OCSPDir}, {"instance-id", *instanceID}, {"expected-signer", *expected}, {"ca", files.CA}} {
		if f.v == "" {
			missing = append(missing, "--"+f.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "eic-authorized-keys verify: missing %s\n%s", strings.Join(missing, ", "), verifyUsage)
		return exitUsage
	}
	now := time.Now()
	if *nowArg != 0 {
		now = time.Unix(*nowArg, 0)
	}
	q := lookup.Query{User: *user}
	if *fpArg != "" {
		fp, err := keys.ParseFingerprint(*fpArg)
		if err != nil {
			fmt.Fprintf(stderr, "eic-authorized-keys verify: --fingerprint: %v\n", err)
			return exitUsage
		}
		q.Fingerprint = &fp
	}
	src, err := loadSaved(files, *instanceID, *expected, now)
	if err != nil {
		fmt.Fprintf(stderr, "eic-authorized-keys verify: %v\n", err)
		return exitUsage
	}
	res, verr := lookup.Login(context.Background(), src, q, func() time.Time { return now })
	if *explain {
		for _, line := range src.explain(res, verr) {
			fmt.Fprintln(stderr, line)
		}
	} else if verr != nil {
		fmt.Fprintf(stderr, "eic-authorized-keys verify: %v\n", verr)
	}
	if _, err := io.WriteString(stdout, res.Lines()); err != nil {
		fmt.Fprintf(stderr, "eic-authorized-keys verify: write: %v\n", err)
		return exitFailed
	}
	if len(res.Accepted) == 0 {
		return exitFailed
	}
	return exitOK
}
