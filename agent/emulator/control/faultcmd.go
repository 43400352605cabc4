package control

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/localfile"
)

const faultAbout = `Without flags, prints the active faults as JSON. With flags, changes only the faults
named and keeps the others (--clear removes them all first), then prints the faults now
active. Turn one off with its zero value: --hang=false, --latency 0, --status 0.
Staple NAMEs: good, revoked, missing, stale, not-yet-valid, other-serial, unrelated
(or forged), garbage, delegated.`

func (c *Command) fault(ctx context.Context, args []string) error {
	fs := c.flags("fault", "[flags]", faultAbout)
	var (
		latency, slowDrip                        time.Duration
		status                                   int
		hang, reset, oversize, revokeTokens      bool
		throttle, noTokens, withRoot, sha256Name bool
		throttlePush                             bool
		signerStaple, interStaple                emulator.StapleFault
		domain, region, zone, chainFile          string
		clearAll                                 bool
	)
	fs.DurationVar(&latency, "latency", 0, "delay every answer by `D`, the token PUT included")
	fs.IntVar(&status, "status", 0, "answer every request but the token PUT with HTTP status `N` (0: off)")
	fs.BoolVar(&hang, "hang", false, "never answer, until the client gives up or serve stops")
	fs.BoolVar(&reset, "reset", false, "drop every connection without an answer (TCP RST)")
	fs.DurationVar(&slowDrip, "slow-drip", 0, "send every body one byte per `D`")
	fs.BoolVar(&oversize, "oversize", false, "make every metadata body 1 MiB + 1 byte long")
	fs.TextVar(&signerStaple, "signer-staple", emulator.StapleGood, "serve the signer certificate's staple as `NAME`")
	fs.TextVar(&interStaple, "intermediate-staple", emulator.StapleGood, "serve the intermediate's staple as `NAME`")
	fs.StringVar(&domain, "domain", "", "serve `D` as services/domain (empty: the real one)")
	fs.StringVar(&region, "region", "", "serve `R` as placement/region (empty: the real one)")
	fs.StringVar(&zone, "zone", "", "serve `Z` as placement/availability-zone (empty: the real one)")
	fs.BoolVar(&revokeTokens, "revoke-tokens", false, "answer 401 to every token, old and new, as after a revocation")
	fs.BoolVar(&throttle, "throttle", false, "answer 429 Too Many Requests to all but the token PUT")
	fs.BoolVar(&throttlePush, "throttle-push", false, "answer ThrottlingException to every signed SendSSHPublicKey (POST /)")
	fs.BoolVar(&noTokens, "no-tokens", false, "IMDSv1 only: refuse the token PUT (403), serve requests without one")
	fs.BoolVar(&withRoot, "chain-includes-root", false, "append the root to signer-cert")
	fs.BoolVar(&sha256Name, "staple-names-sha256", false, "name staples by SHA-256, as IMDS once did")
	fs.StringVar(&chainFile, "chain", "", "serve `FILE` as signer-cert (empty: the real chain)")
	fs.BoolVar(&clearAll, "clear", false, "remove every fault before applying the others")
	newClient := client(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	var chain string
	if chainFile != "" {
		b, err := readBounded(chainFile)
		if err != nil {
			return fmt.Errorf("read --chain: %w", err)
		}
		chain = string(b)
	}
	apply := map[string]func(f *Faults){
		"latency":             func(f *Faults) { f.Latency = Duration(latency) },
		"slow-drip":           func(f *Faults) { f.SlowDrip = Duration(slowDrip) },
		"status":              func(f *Faults) { f.Status = status },
		"hang":                func(f *Faults) { f.Hang = hang },
		"reset":               func(f *Faults) { f.Reset = reset },
		"oversize":            func(f *Faults) { f.Oversize = oversize },
		"revoke-tokens":       func(f *Faults) { f.RevokeTokens = revokeTokens },
		"throttle":            func(f *Faults) { f.Throttle = throttle },
		"no-tokens":           func(f *Faults) { f.NoTokens = noTokens },
		"throttle-push":       func(f *Faults) { f.ThrottlePush = throttlePush },
		"chain-includes-root": func(f *Faults) { f.ChainIncludesRoot = withRoot },
		"staple-names-sha256": func(f *Faults) { f.StapleNamesSHA256 = sha256Name },
		"domain":              func(f *Faults) { f.Domain = domain },
		"region":              func(f *Faults) { f.Region = region },
		"zone":                func(f *Faults) { f.Zone = zone },
		"signer-staple":       func(f *Faults) { f.SignerStaple = signerStaple },
		"intermediate-staple": func(f *Faults) { f.IntermediateStaple = interStaple },
		"chain":               func(f *Faults) { f.Chain = chain },
	}
	var changes []string
	var check Faults // the changes alone, checked before anything is sent
	fs.Visit(func(fl *flag.Flag) {
		if set := apply[fl.Name]; set != nil {
			changes = append(changes, fl.Name)
			set(&check)
		}
	})
	if _, err := check.Emulator(); err != nil {
		return usageError(fs, "%v", err)
	}

	cl := newClient()
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	var f Faults
	var err error
	switch {
	case clearAll && len(changes) == 0:
		err = cl.ClearFaults(ctx)
	case !clearAll:
		f, err = cl.Faults(ctx)
	}
	if err != nil {
		return apiError(err)
	}
	if len(changes) > 0 {
		for _, name := range changes {
			apply[name](&f)
		}
		if f, err = cl.SetFaults(ctx, f); err != nil {
			return apiError(err)
		}
	}
	out, _ := json.MarshalIndent(f, "", "  ")
	_, err = fmt.Fprintf(c.Stdout, "%s\n", out)
	return err
}

// readBounded reads a small file named on the command line.
func readBounded(path string) ([]byte, error) {
	b, err := localfile.Read(path, MaxBody/2, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}
