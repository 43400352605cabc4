package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/wire"
)

// ErrConfig marks a configuration Serve cannot start with.
var ErrConfig = errors.New("configuration error")

// stopGrace is how long requests in flight may finish after a stop is requested before they
// are cut short (the helper then verifies directly): systemd expects a stop within a second.
const stopGrace = 500 * time.Millisecond

// ServeConfig is what Serve takes from the process that owns it: cmd/eic-agent loads the
// configuration, builds the logger, resolves the service account and takes the socket.
type ServeConfig struct {
	// Listener is the socket to serve (see Listen). Serve closes it before it returns.
	Listener *net.UnixListener
	// Activated says systemd passed Listener (socket activation); it is logged.
	Activated bool
	// Config is the configuration to start with. One that New refuses makes Serve return an
	// error wrapping ErrConfig.
	Config config.Config
	// Log receives the service's log (default: no logging).
	Log *zap.Logger
	// ClientUID is the one uid besides root whose queries are answered: the service account,
	// which sshd runs the helper as (wire.ServiceUID). The zero value answers root only.
	ClientUID uint32
	// Reload delivers a value for every reload request (SIGHUP); nil means none.
	Reload <-chan os.Signal
	// Load reads the configuration again for a reload; required when Reload is set.
	Load func() (config.Config, error)
	// ConfigFile names what Load reads, for the log.
	ConfigFile string
	// Version is logged once serving.
	Version string
}

// Serve runs the service on sc.Listener until ctx ends: it serves the helper's queries, reloads
// through sc.Load on sc.Reload, and speaks sd_notify (READY=1 once the socket is served,
// WATCHDOG=1 when systemd asks for it, RELOADING=1 and STOPPING=1). A configuration that fails
// at reload is logged and the running one kept. It returns nil after a clean stop and an error
// when serving failed; it does not log that error itself, so that the caller reports it once.
//
// sd_notify lives here rather than with the caller because the watchdog must be pinged by the
// loop that also takes reloads and stops: a stuck loop then stops the pings and systemd
// restarts it.
func Serve(ctx context.Context, sc ServeConfig) error {
	if sc.Listener == nil {
		return errors.New("serve: no listener")
	}
	defer func() { _ = sc.Listener.Close() }()
	if sc.Reload != nil && sc.Load == nil {
		return errors.New("serve: reload requests but no loader to reload with")
	}
	if sc.Log == nil {
		sc.Log = zap.NewNop()
	}
	svc, err := New(Config{File: sc.Config, Log: sc.Log})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	d := &daemonState{sc: sc, log: sc.Log}
	d.cur.Store(svc)
	svc.Start()
	return d.serve(ctx)
}

type daemonState struct {
	sc  ServeConfig // sc.Config stays the configuration started with
	log *zap.Logger
	cur atomic.Pointer[Service]
}

func (d *daemonState) serve(ctx context.Context) error {
	ln := d.sc.Listener
	// Requests in flight at a stop get stopGrace, then hardStop cuts them short.
	hardStop, cutShort := context.WithCancel(context.Background())
	defer cutShort()
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	served := make(chan error, 1)
	go func() {
		served <- wire.Serve(serveCtx, ln, d.handler(hardStop), wire.ServerOptions{
			AllowedUIDs: []uint32{d.sc.ClientUID},
			Timeout:     d.sc.Config.Deadline.Duration,
			Log:         d.log,
		})
	}()
	var ping <-chan time.Time
	if interval, err := daemon.SdWatchdogEnabled(false); err != nil {
		d.log.Warn("systemd watchdog settings unusable; not sending watchdog pings", zap.Error(err))
	} else if interval > 0 {
		// Pinging from the loop that also takes reloads and stops: a stuck loop stops the pings.
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		ping = t.C
		d.log.Info("systemd watchdog enabled", zap.Duration("ping_every", interval/2))
	}
	d.log.Info("eic-agent serving", zap.String("socket", ln.Addr().String()),
		zap.Bool("socket_activated", d.sc.Activated), zap.String("version", d.sc.Version))
	d.notify(daemon.SdNotifyReady + "\nSTATUS=serving on " + ln.Addr().String())
	for {
		select {
		case <-ctx.Done():
			return d.stop(served, stopServing, cutShort)
		case err := <-served:
			_ = d.cur.Load().Close()
			if err == nil {
				err = errors.New("the socket was closed")
			}
			return fmt.Errorf("stopped serving: %w", err)
		case <-ping:
			d.notify(daemon.SdNotifyWatchdog)
		case <-d.sc.Reload:
			d.reload()
		}
	}
}

func (d *daemonState) stop(served <-chan error, stopServing, cutShort context.CancelFunc) error {
	d.notify(daemon.SdNotifyStopping)
	d.log.Info("eic-agent stopping")
	stopServing()
	grace := time.AfterFunc(stopGrace, cutShort)
	defer grace.Stop()
	err := <-served
	_ = d.cur.Load().Close()
	if err != nil {
		return err
	}
	d.log.Info("eic-agent stopped")
	return nil
}

func (d *daemonState) handler(hardStop context.Context) wire.Handler {
	return func(ctx context.Context, req wire.Request) wire.Response {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(hardStop, cancel)()
		svc := d.cur.Load()
		resp := svc.Handle(ctx, req)
		if next := d.cur.Load(); next != svc && resp.Verdict == wire.VerdictNone {
			// A reload closed the service under this request: ask the new one.
			resp = next.Handle(ctx, req)
		}
		if hardStop.Err() != nil && resp.Verdict == wire.VerdictFailed {
			return wire.Refusal(req.User, "eic-agent is stopping; verify directly")
		}
		return resp
	}
}

// reload loads the configuration again through ServeConfig.Load and swaps in a service built
// from it. Anything wrong leaves the running service as it was.
func (d *daemonState) reload() {
	d.notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec())
	defer d.notify(daemon.SdNotifyReady)
	cfg, err := d.sc.Load()
	if err != nil {
		d.log.Error("configuration reload failed; keeping the running configuration", zap.Error(err))
		return
	}
	svc, err := New(Config{File: cfg, Log: d.log})
	if err != nil {
		d.log.Error("configuration reload failed; keeping the running configuration", zap.Error(err))
		return
	}
	start := d.sc.Config
	if cfg.Service.Socket != start.Service.Socket || cfg.Service.User != start.Service.User ||
		cfg.Log != start.Log || cfg.Deadline != start.Deadline {
		d.log.Warn("service.socket, service.user, log and deadline changes take effect at the next restart (systemctl restart eic-agent)")
	}
	svc.Start()
	old := d.cur.Swap(svc)
	_ = old.Close()
	d.log.Info("configuration reloaded", zap.String("config", d.sc.ConfigFile))
}

func (d *daemonState) notify(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		d.log.Warn("sd_notify failed", zap.String("state", state), zap.Error(err))
	}
}
