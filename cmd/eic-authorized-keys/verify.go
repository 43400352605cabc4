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
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	var missing []string
	for name, v := range map[string]string{"keys": files.Keys, "signer-chain": files.SignerChain, "ocsp-dir": files.OCSPDir,
		"ca": files.CA, "instance-id": *instanceID, "expected-signer": *expected} {
		if v == "" {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "eic-authorized-keys verify: missing %s or extra arguments\n%s", strings.Join(missing, ", "), usage)
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
