// Command eic-emulator serves a fake EC2 instance metadata service (agent/emulator) for people
// and for `make demo`: IMDSv2 tokens, the instance's identity, and EC2 Instance Connect keys
// signed by a throwaway test PKI. It logs every request to stderr.
//
//	eic-emulator --listen 127.0.0.1:1338 --root-ca-out /tmp/eic-root.pem \
//	    --user ec2-user --pubkey ~/.ssh/id_ed25519.pub
//
// Point the code under test at http://127.0.0.1:1338 and trust the root written to
// --root-ca-out. Nothing here is secure; never expose it beyond loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "eic-emulator:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run serves until ctx ends. ready, when set, receives the listening address once requests
// can be made.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) error {
	fs := flag.NewFlagSet("eic-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:1338", "listen on `ADDR`")
	instanceID := fs.String("instance-id", emulator.DefaultInstanceID, "instance id to serve")
	region := fs.String("region", emulator.DefaultRegion, "region to serve (and to name the signer for)")
	zone := fs.String("zone", emulator.DefaultZone, "availability zone to serve")
	domain := fs.String("domain", emulator.DefaultDomain, "services/domain to serve (and to name the signer for)")
	rootOut := fs.String("root-ca-out", "", "write the test root certificate (PEM) to `FILE`")
	user := fs.String("user", "", "push a key for `USER` at start (needs --pubkey)")
	pubkey := fs.String("pubkey", "", "OpenSSH public key `FILE` to push for --user")
	keyTTL := fs.Duration("key-ttl", emulator.DefaultKeyTTL, "how long the pushed key stays valid")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 || (*user == "") != (*pubkey == "") {
		fs.Usage()
		return fmt.Errorf("%w: unexpected arguments, or --user without --pubkey", errUsage)
	}
	logger := log.New(stderr, "eic-emulator: ", log.LstdFlags|log.Lmicroseconds)

	emu, err := emulator.New(emulator.Config{InstanceID: *instanceID, Region: *region, Zone: *zone,
		Domain: *domain, KeyTTL: *keyTTL})
	if err != nil {
		return err
	}
	defer emu.Close()
	if *rootOut != "" {
		if err := os.WriteFile(*rootOut, emu.RootPEM(), 0o644); err != nil {
			return fmt.Errorf("write test root: %w", err)
		}
		logger.Printf("wrote the test root certificate to %s", *rootOut)
	}
	if *user != "" {
		if err := pushFile(emu, *user, *pubkey, logger); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: logRequests(emu, logger), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Printf("serving IMDS for %s (%s, %s, %s) on http://%s", *instanceID, *zone, *region, *domain, ln.Addr())
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	emu.Close() // release hung requests so Shutdown can finish
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	logger.Printf("stopped")
	return nil
}

func pushFile(emu *emulator.Emulator, user, file string, logger *log.Logger) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read public key: %w", err)
	}
	key := strings.TrimSpace(string(data))
	id, err := emu.Push(emulator.Push{OSUser: user, PublicKey: key})
	if err != nil {
		return fmt.Errorf("push %s: %w", file, err)
	}
	logger.Printf("pushed %s for %s, request-id %s", file, user, id)
	return nil
}

// logRequests logs one line per request: method, path, status, duration.
func logRequests(next http.Handler, logger *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.Printf("%s %s %d %v", r.Method, r.URL.EscapedPath(), sw.status, time.Since(start).Round(time.Microsecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}
