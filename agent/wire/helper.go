package wire

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/eic-agent/eic-agent/agent/lookup"
)

// Path says which way a helper run got its answer.
type Path string

// The two paths.
const (
	PathService Path = "service"
	PathDirect  Path = "direct"
)

// QueryConfig is how the helper reaches the service (the config's [service] table).
type QueryConfig struct {
	Enabled bool
	Socket  string
	// User is the account the service runs as; its uid is trusted besides root. A name that
	// does not resolve leaves only a root-run service trusted.
	User           string
	ConnectTimeout time.Duration
	// Timeout bounds the exchange with the service. Zero: half the time left before ctx's
	// deadline (at most DefaultTimeout), so that a service that hangs leaves the direct path
	// the other half.
	Timeout time.Duration
}

// Direct runs the lookup without the service, recording its decisions to log (lookup.Run).
type Direct func(ctx context.Context, log *zap.Logger) (lookup.Result, error)

// Lookup answers req through the service when q enables it and falls back to direct on any
// failure to get a verdict from it (unreachable, untrusted, broken, refused, out of shape). A
// verdict from the service, including a failed verification, is final: it is recorded with
// lookup.Record and returned as direct's would be, so the caller prints and exits the same way
// on either path. Audit records carry path=service or path=direct.
func Lookup(ctx context.Context, q QueryConfig, req Request, direct Direct, log *zap.Logger) (lookup.Result, Path, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if q.Enabled {
		res, answered, err := askService(ctx, q, req, log)
		if answered {
			log.Debug("EC2 Instance Connect lookup answered", zap.String("user", req.User), zap.String("path", string(PathService)))
			return res, PathService, err
		}
	}
	res, err := direct(ctx, log.With(zap.String("path", string(PathDirect))))
	log.Debug("EC2 Instance Connect lookup answered", zap.String("user", req.User), zap.String("path", string(PathDirect)))
	return res, PathDirect, err
}

// askService returns answered false when the service gave no usable verdict; err is then
// only for the debug log.
func askService(ctx context.Context, q QueryConfig, req Request, log *zap.Logger) (res lookup.Result, answered bool, err error) {
	opts := ClientOptions{ConnectTimeout: q.ConnectTimeout, Timeout: q.Timeout, TrustedUser: q.User}
	if opts.Timeout <= 0 {
		opts.Timeout = serviceBudget(ctx)
	}
	a, err := query(ctx, q.Socket, req, opts)
	if err == nil {
		lookup.Record(log.With(zap.String("path", string(PathService))), a.res, a.verdict)
		return a.res, true, a.verdict
	}
	log.Debug("eic-agent service unavailable; verifying directly", zap.String("socket", q.Socket), zap.Error(err))
	return lookup.Result{}, false, err
}

func serviceBudget(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return DefaultTimeout
	}
	return max(min(time.Until(dl)/2, DefaultTimeout), time.Millisecond)
}
