package control

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
	"github.com/eic-agent/eic-agent/agent/emulator/pki"
)

const serveAbout = `Serves a fake IMDS (IMDSv2) for one instance, with EC2 Instance Connect keys signed by a
throwaway test PKI, and the control API the other commands use. Logs every request to
stderr. Stops cleanly on SIGINT or SIGTERM.

The default IMDS address is the real one: it must be on an interface
(ip addr add 169.254.169.254/32 dev lo) and port 80 needs root or CAP_NET_BIND_SERVICE.
Anywhere else works too (--imds 127.0.0.1:1338) when the code under test can be told.
Nothing here is secure: keep both addresses on loopback or a private test network.`

// serveOptions are serve's flags.
type serveOptions struct {
	imds, listen, control            string
	cfg                              emulator.Config
	rootOut, readyFile, user, pubkey string
	awsCreds, awsCredsOut            string
	quiet                            bool
}

// serve runs `eic-emulator serve`; name is "" for the old flags-only command line.
func (c *Command) serve(ctx context.Context, name string, args []string) error {
	if name == "" {
		name = "serve"
	}
	fs := c.flags(name, "[flags]", serveAbout)
	var o serveOptions
	fs.StringVar(&o.imds, "imds", DefaultIMDSAddr, "serve IMDS on `ADDR`")
	fs.StringVar(&o.listen, "listen", "", "old name of --imds")
	fs.StringVar(&o.control, "control", DefaultControlAddr, "serve the control API on `ADDR` (never the IMDS one)")
	fs.StringVar(&o.cfg.InstanceID, "instance-id", emulator.DefaultInstanceID, "instance `ID` to serve")
	fs.StringVar(&o.cfg.Region, "region", emulator.DefaultRegion, "`REGION` to serve and to name the signer for")
	fs.StringVar(&o.cfg.Zone, "zone", emulator.DefaultZone, "availability `ZONE` to serve")
	fs.StringVar(&o.cfg.Domain, "domain", emulator.DefaultDomain, "services/domain to serve and to name the signer for")
	fs.DurationVar(&o.cfg.KeyTTL, "key-ttl", emulator.DefaultKeyTTL, "how long a pushed key stays valid by default")
	fs.Func("staple-certs", "the OCSP staples' certs field carries `FORM`: default, none, issuer,\n"+
		"issuer-chain or junk (see eic-emulator staple-certs -h; default: default)", func(s string) error {
		var err error
		o.cfg.StapleCerts, err = pki.ParseCerts(s)
		return err
	})
	fs.StringVar(&o.rootOut, "root-ca-out", "", "write the test root CA certificate (PEM) to `FILE`")
	fs.StringVar(&o.readyFile, "ready-file", "", "once both listeners are up, write their addresses to `FILE`\n"+
		"(lines imds=ADDR and control=ADDR; removed at exit) for scripts to wait on")
	fs.StringVar(&o.user, "user", "", "push the key of --pubkey for `USER` at start")
	fs.StringVar(&o.pubkey, "pubkey", "", "public key `FILE` to push for --user at start")
	fs.StringVar(&o.awsCreds, "aws-credentials", "", "check SendSSHPublicKey signatures against the [default] profile of `FILE`\n"+
		"(AWS shared-credentials format; default: a key pair generated at start)")
	fs.StringVar(&o.awsCredsOut, "aws-credentials-out", "", "write the generated key pair to `FILE` (mode 0600) in the AWS\n"+
		"shared-credentials format, for AWS_SHARED_CREDENTIALS_FILE")
	fs.BoolVar(&o.quiet, "quiet", false, "do not log each request")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if o.listen != "" {
		imdsSet := false
		fs.Visit(func(f *flag.Flag) { imdsSet = imdsSet || f.Name == "imds" })
		if imdsSet {
			return usageError(fs, "--listen is the old name of --imds: give one of them")
		}
		o.imds = o.listen
	}
	switch {
	case (o.user == "") != (o.pubkey == ""):
		return usageError(fs, "--user and --pubkey go together")
	case o.awsCreds != "" && o.awsCredsOut != "":
		return usageError(fs, "--aws-credentials reads a key pair and --aws-credentials-out writes a generated one: give one of them")
	case o.imds == o.control && !strings.HasSuffix(o.imds, ":0"):
		return usageError(fs, "--imds and --control are both %s: the control API needs its own listener", o.imds)
	}
	return c.runServe(ctx, o)
}

func (c *Command) runServe(ctx context.Context, o serveOptions) error {
	logger := log.New(c.Stderr, "eic-emulator: ", log.LstdFlags|log.Lmicroseconds)
	emu, err := emulator.New(o.cfg)
	if err != nil {
		return err
	}
	defer emu.Close()
	if o.rootOut != "" {
		if err := os.WriteFile(o.rootOut, emu.RootPEM(), 0o644); err != nil {
			return fmt.Errorf("write test root: %w", err)
		}
		logger.Printf("wrote the test root CA certificate to %s", o.rootOut)
	}
	if o.user != "" {
		key, err := readPublicKey(o.pubkey)
		if err != nil {
			return err
		}
		id, err := emu.Push(emulator.Push{OSUser: o.user, PublicKey: key})
		if err != nil {
			return fmt.Errorf("push %s: %w", o.pubkey, err)
		}
		logger.Printf("pushed %s for %s, request id %s", o.pubkey, o.user, id)
	}

	imdsLn, err := listen("IMDS", o.imds)
	if err != nil {
		return err
	}
	defer imdsLn.Close()
	ctlLn, err := listen("control API", o.control)
	if err != nil {
		return err
	}
	defer ctlLn.Close()
	if ip := ctlLn.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		logger.Printf("warning: the control API on %s is reachable beyond this host, and anyone reaching it can push keys", ctlLn.Addr())
	}

	// After the listeners: a serve that cannot start says only why.
	creds, err := serveCredentials(o, logger)
	if err != nil {
		return err
	}
	var imdsH, ctlH http.Handler = emu, NewHandler(emu, HandlerConfig{Logf: logger.Printf, Credentials: creds})
	if !o.quiet {
		imdsH, ctlH = logRequests("imds", imdsH, logger), logRequests("control", ctlH, logger)
	}
	servers := []*http.Server{
		{Handler: imdsH, ReadHeaderTimeout: 10 * time.Second},
		{Handler: ctlH, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second},
	}
	served := make(chan error, 2)
	for i, ln := range []net.Listener{imdsLn, ctlLn} {
		go func() { served <- servers[i].Serve(ln) }()
	}
	err = c.announce(o, imdsLn.Addr().String(), ctlLn.Addr().String(), logger)
	if err == nil {
		select {
		case err = <-served:
			err = fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
		}
	}
	if o.readyFile != "" {
		_ = os.Remove(o.readyFile) // so a script never waits on a stale file
	}
	emu.Close() // release hung and dripping requests so Shutdown can finish
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		if serr := s.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shut down: %w", serr)
		}
	}
	if err == nil {
		logger.Printf("stopped")
	}
	return err
}

// serveCredentials reads or generates the key pair SendSSHPublicKey requests are checked
// against, and says in one line which one it is and where its secret is.
func serveCredentials(o serveOptions, logger *log.Logger) (Credentials, error) {
	if o.awsCreds != "" {
		c, err := ReadCredentialsFile(o.awsCreds)
		if err != nil {
			return Credentials{}, err
		}
		logger.Printf("AWS credentials for SendSSHPublicKey: access key id %s, secret in %s", c.AccessKeyID, o.awsCreds)
		return c, nil
	}
	c, err := NewCredentials()
	if err != nil {
		return Credentials{}, err
	}
	if o.awsCredsOut == "" {
		// Test material: printing the secret is what lets a person use it without a file.
		logger.Printf("AWS credentials for SendSSHPublicKey (generated): access key id %s, secret access key %s "+
			"(--aws-credentials-out FILE writes them for AWS_SHARED_CREDENTIALS_FILE)", c.AccessKeyID, c.SecretAccessKey)
		return c, nil
	}
	if err := c.WriteFile(o.awsCredsOut); err != nil {
		return Credentials{}, err
	}
	logger.Printf("AWS credentials for SendSSHPublicKey (generated): access key id %s, secret in %s "+
		"(AWS_SHARED_CREDENTIALS_FILE=%s)", c.AccessKeyID, o.awsCredsOut, o.awsCredsOut)
	return c, nil
}

// announce tells people, scripts and tests that both listeners are up.
func (c *Command) announce(o serveOptions, imdsAddr, ctlAddr string, logger *log.Logger) error {
	logger.Printf("serving IMDS for %s (%s, %s, %s) on http://%s, control API on http://%s",
		o.cfg.InstanceID, o.cfg.Zone, o.cfg.Region, o.cfg.Domain, imdsAddr, ctlAddr)
	if o.cfg.StapleCerts != pki.CertsDefault {
		logger.Printf("staples carry the certs form %s", o.cfg.StapleCerts)
	}
	if o.readyFile != "" {
		if err := writeAtomic(o.readyFile, fmt.Sprintf("imds=%s\ncontrol=%s\n", imdsAddr, ctlAddr), 0o644); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
	}
	if c.Ready != nil {
		c.Ready(imdsAddr, ctlAddr)
	}
	return nil
}

// writeAtomic writes through a temporary file and a rename, so a script polling for path
// never reads half of it.
func writeAtomic(path, content string, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".eic-emulator-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// listen explains the usual reasons a listener cannot start.
func listen(what, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	hint := ""
	switch {
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		hint = " (no interface has this address: add it, e.g. `ip addr add 169.254.169.254/32 dev lo`, or choose another)"
	case errors.Is(err, syscall.EACCES):
		hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
	case errors.Is(err, syscall.EADDRINUSE):
		hint = " (something, maybe another eic-emulator, already listens there)"
	}
	return nil, fmt.Errorf("listen for the %s on %s: %w%s", what, addr, err, hint)
}

// logRequests logs one line per request: listener, method, path, status, duration.
func logRequests(name string, next http.Handler, logger *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		result := fmt.Sprint(sw.status)
		if sw.hijacked {
			result = "reset"
		}
		logger.Printf("%s %s %s %s %v", name, r.Method, r.URL.EscapedPath(), result, time.Since(start).Round(time.Microsecond))
	})
}

// statusWriter records the status for the log. Unwrap lets http.ResponseController reach
// the connection for the emulator's flushes.
type statusWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack is how Faults.Reset drops the connection; noted so the log says "reset".
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return conn, rw, err
}
