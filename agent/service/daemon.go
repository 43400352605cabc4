package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/audit"
	"github.com/eic-agent/eic-agent/agent/config"
	"github.com/eic-agent/eic-agent/agent/keys"
	"github.com/eic-agent/eic-agent/agent/lookup"
	"github.com/eic-agent/eic-agent/agent/wire"
)

// ErrConfig marks a configuration that cannot be used at start.
var ErrConfig = errors.New("configuration error")

// stopGrace is how long requests in flight may finish after a stop is requested before they
// are cut short (the helper then verifies directly): systemd expects a stop within a second.
const stopGrace = 500 * time.Millisecond

// RunConfig configures Run.
type RunConfig struct {
	// ConfigPath is the configuration file; "" means config.DefaultPath, which may be absent.
	ConfigPath string
	// Reload delivers a value for every reload request (SIGHUP).
	Reload <-chan os.Signal
	// Stderr receives logs when the log target is stderr (default os.Stderr).
	Stderr io.Writer
	// Version is logged at start.
	Version string
}

// Handle answers one wire request. A lookup that could not run because the service is going
// away is answered without a verdict, so the helper verifies directly instead of failing.
func (s *Service) Handle(ctx context.Context, req wire.Request) wire.Response {
	q := lookup.Query{User: req.User}
	if req.Fingerprint != "" {
		fp, err := keys.ParseFingerprint(req.Fingerprint)
		if err != nil { // wire validated it already; never guess
			return wire.Refusal(req.User, "%v", err)
		}
		q.Fingerprint = &fp
	}
	res, err := s.Answer(ctx, q)
	if errors.Is(err, errClosed) {
		return wire.Refusal(req.User, "%v; verify directly", err)
	}
	return wire.FromResult(res, err)
}

// Run is the whole service process: it loads the configuration, takes its socket from systemd
// or creates it, serves until ctx ends, reloads on Reload, and speaks sd_notify (READY=1 once
// the socket is served, WATCHDOG=1 when systemd asks for it, RELOADING=1 and STOPPING=1). A
// bad configuration at reload is logged and the running one kept. It returns nil after a clean
// stop.
func Run(ctx context.Context, rc RunConfig) error {
	path, explicit := rc.ConfigPath, rc.ConfigPath != ""
	if !explicit {
		path = config.DefaultPath
	}
	cfg, err := config.Load(path, explicit)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	log, err := audit.New(audit.Config{Target: cfg.Log.Target, Level: cfg.Log.Level, Stderr: rc.Stderr})
	if err != nil {
		return fmt.Errorf("%w: logging: %w", ErrConfig, err)
	}
	defer func() { _ = log.Sync() }()
	uid, err := wire.ServiceUID(cfg.Service.User)
	if err != nil {
		log.Error("cannot start: service.user cannot be trusted as the service account", zap.Error(err))
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	ln, activated, err := Listen(cfg.Service.Socket)
	if err != nil {
		log.Error("cannot start: no socket to serve", zap.Error(err))
		return err
	}
	svc, err := New(Config{File: cfg, Log: log})
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	d := &daemonState{rc: rc, path: path, explicit: explicit, cfg: cfg, log: log}
	d.cur.Store(svc)
	svc.Start()
	return d.serve(ctx, ln, activated, uid)
}

type daemonState struct {
	rc       RunConfig
	path     string
	explicit bool
	cfg      config.Config
	log      *zap.Logger
	cur      atomic.Pointer[Service]
}

func (d *daemonState) serve(ctx context.Context, ln *net.UnixListener, activated bool, uid uint32) error {
	// Requests in flight at a stop get stopGrace, then hardStop cuts them short.
	hardStop, cutShort := context.WithCancel(context.Background())
	defer cutShort()
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	served := make(chan error, 1)
	go func() {
		served <- wire.Serve(serveCtx, ln, d.handler(hardStop), wire.ServerOptions{
			AllowedUIDs: []uint32{uid},
			Timeout:     d.cfg.Deadline.Duration,
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
		zap.Bool("socket_activated", activated), zap.String("version", d.rc.Version))
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
			d.log.Error("eic-agent stopped serving", zap.Error(err))
			return err
		case <-ping:
			d.notify(daemon.SdNotifyWatchdog)
		case <-d.rc.Reload:
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

// reload loads the configuration again and swaps in a service built from it. Anything wrong
// leaves the running service as it was.
func (d *daemonState) reload() {
	d.notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec())
	defer d.notify(daemon.SdNotifyReady)
	cfg, err := config.Load(d.path, d.explicit)
	if err != nil {
		d.log.Error("configuration reload failed; keeping the running configuration", zap.Error(err))
		return
	}
	svc, err := New(Config{File: cfg, Log: d.log})
	if err != nil {
		d.log.Error("configuration reload failed; keeping the running configuration", zap.Error(err))
		return
	}
	if cfg.Service.Socket != d.cfg.Service.Socket || cfg.Service.User != d.cfg.Service.User ||
		cfg.Log != d.cfg.Log || cfg.Deadline != d.cfg.Deadline {
		d.log.Warn("service.socket, service.user, log and deadline changes take effect at the next restart (systemctl restart eic-agent)")
	}
	svc.Start()
	old := d.cur.Swap(svc)
	_ = old.Close()
	d.log.Info("configuration reloaded", zap.String("config", d.path))
}

func (d *daemonState) notify(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		d.log.Warn("sd_notify failed", zap.String("state", state), zap.Error(err))
	}
}
