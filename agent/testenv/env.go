package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/eic-agent/eic-agent/agent/emulator"
)

// Where the helper is installed inside the namespace: our path, and a link at upstream's deb
// path so configurations written for the ec2-instance-connect package keep working.
const (
	HelperPath   = "/usr/sbin/eic-authorized-keys"
	UpstreamPath = "/usr/share/ec2-instance-connect/eic_run_authorized_keys"
	ConfigPath   = "/etc/eic-agent/config.toml"
	// CommandUser is the unprivileged account sshd runs the helper as.
	CommandUser = "ec2-instance-connect"
)

// binEnv names the directory of the binaries built by the outer process.
const binEnv = "EIC_TESTENV_BIN"

// DefaultUsers are the accounts every environment has.
var DefaultUsers = []User{
	{Name: CommandUser, UID: 64990, System: true},
	{Name: "ec2-user", UID: 64000},
	{Name: "alice", UID: 64001},
	{Name: "ldapuser", UID: 64002, Extra: true},
}

// Build compiles the named commands of this module (static, as shipped) into dir, and returns
// the environment variable that tells the re-executed child where they are.
func Build(dir string, cmds ...string) (string, error) {
	for _, c := range cmds {
		b := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, c), "github.com/eic-agent/eic-agent/cmd/"+c)
		b.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := b.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build %s: %v\n%s", c, err, out)
		}
	}
	return binEnv + "=" + dir, nil
}

// Bin returns the path of a command built by Build.
func Bin(name string) string { return filepath.Join(os.Getenv(binEnv), name) }

// ControlAddr is where the emulator's control API (and its AWS SendSSHPublicKey endpoint)
// listens inside the namespace when Options.Control is set: the address `eic-emulator` uses by
// default.
const ControlAddr = "127.0.0.1:8169"

// Env is a prepared host: emulator at the IMDS address with its control API on ControlAddr,
// journald stand-in, helper installed.
type Env struct {
	Emu     *emulator.Emulator
	Sys     *System
	Journal *Journal
	// AWSCredentials is the shared-credentials file Options.Control wrote: what the AWS CLI
	// signs its pushes to ControlAddr with.
	AWSCredentials string
	srvs           []*http.Server
}

// Options for Start.
type Options struct {
	// Config is written to /etc/eic-agent/config.toml; empty means none (all defaults).
	Config string
	// KeyTTL is the emulator's default key lifetime (default 60s).
	KeyTTL time.Duration
	// Control, when not nil, makes the handler served on ControlAddr (the emulator's control
	// API with its AWS route), after writing the credentials that route checks to
	// credentialsFile (AWS shared-credentials format). testenv cannot make it itself:
	// agent/emulator/control's tests import testenv.
	Control func(emu *emulator.Emulator, credentialsFile string) (http.Handler, error)
}

// Start prepares the namespace and starts the emulator on 169.254.169.254:80.
func Start(o Options) (*Env, error) {
	emu, err := emulator.New(emulator.Config{KeyTTL: o.KeyTTL})
	if err != nil {
		return nil, err
	}
	sys, err := Prepare(emu.InstanceID(), emu.RootPEM(), DefaultUsers)
	if err != nil {
		return nil, err
	}
	if err := Install(Bin("eic-authorized-keys"), HelperPath); err != nil {
		return nil, fmt.Errorf("install helper: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(UpstreamPath), 0o755); err != nil {
		return nil, err
	}
	// A host with the package installed already has the link (in the lower layer of /usr):
	// replace it in the private overlay.
	if err := os.Remove(UpstreamPath); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if err := os.Symlink(HelperPath, UpstreamPath); err != nil {
		return nil, err
	}
	if o.Config != "" {
		if err := WriteFile(ConfigPath, []byte(o.Config), 0o644); err != nil {
			return nil, err
		}
	}
	j, err := StartJournal()
	if err != nil {
		return nil, err
	}
	env := &Env{Emu: emu, Sys: sys, Journal: j}
	listeners := []struct {
		what, addr string
		h          http.Handler
	}{{"the IMDS address", "169.254.169.254:80", emu}}
	if o.Control != nil {
		env.AWSCredentials = filepath.Join(Work, "aws", "credentials")
		err := os.MkdirAll(filepath.Dir(env.AWSCredentials), 0o700)
		var h http.Handler
		if err == nil {
			h, err = o.Control(emu, env.AWSCredentials)
		}
		if err != nil {
			j.Close()
			return nil, fmt.Errorf("control API: %w", err)
		}
		listeners = append(listeners, struct {
			what, addr string
			h          http.Handler
		}{"the control address", ControlAddr, h})
	}
	for _, l := range listeners {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			env.Close()
			return nil, fmt.Errorf("listen on %s: %w", l.what, err)
		}
		srv := &http.Server{Handler: l.h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		env.srvs = append(env.srvs, srv)
	}
	return env, nil
}

// Close stops the emulator and the journal. Mounts vanish with the namespace.
func (e *Env) Close() error {
	e.Emu.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range e.srvs {
		err := srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = srv.Close()
		}
		errs = append(errs, err)
	}
	return errors.Join(append(errs, e.Journal.Close())...)
}

// RunHelper runs the installed helper as the command user, the way sshd does (empty
// environment), and returns its stdout and exit code.
func RunHelper(ctx context.Context, args ...string) (string, int, error) {
	cmd := exec.CommandContext(ctx, HelperPath, args...)
	cmd.Env = []string{}
	cmd.SysProcAttr = credentialsOf(DefaultUsers[0])
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode(), nil
	}
	return string(out), 0, err
}

// ServicePath is where the warm service is installed inside the namespace.
const ServicePath = "/usr/sbin/eic-agent"

// StartService installs and starts `eic-agent run` as the command user (as the systemd unit
// would), with its socket in /run/eic-agent, and returns once the socket accepts connections.
// stop kills it and waits.
func StartService(log io.Writer) (stop func(), err error) {
	if err := Install(Bin("eic-agent"), ServicePath); err != nil {
		return nil, fmt.Errorf("install service: %w", err)
	}
	u := DefaultUsers[0]
	dir := "/run/eic-agent"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chown(dir, u.UID, u.UID); err != nil {
		return nil, err
	}
	cmd := exec.Command(ServicePath, "run")
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = credentialsOf(u)
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start service: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	if err := waitDial("unix", filepath.Join(dir, "agent.sock"), 10*time.Second, done); err != nil {
		stop()
		return nil, fmt.Errorf("service did not start: %w", err)
	}
	return stop, nil
}
