package chain

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Record logs one run: one line with event=chain, the outcome ("ok" or a Reason) and counts,
// and, at debug level, one line per key passed on. A clean run is logged at debug level (it
// happens on every login); a run whose output had to be cut or cleaned at warn; a failure at
// info when the command merely exited non-zero (a key command's usual "no keys for you", as
// opkssh's for a key that is not its own), warn when it hung or broke, and error when the
// configuration must change (an unsafe path, a token sshd was not told to pass).
func (r Result) Record(log *zap.Logger, user string, err error) {
	outcome := "ok"
	var cerr *Error
	if errors.As(err, &cerr) {
		outcome = string(cerr.Reason)
	} else if err != nil {
		outcome = string(ReasonFailed)
	}
	fields := []zap.Field{
		zap.String("user", user),
		zap.String("command", r.Command),
		zap.String("outcome", outcome),
		zap.Int("keys", len(r.Keys)),
		zap.Int("refused", r.Refused),
		zap.Int64("discarded_bytes", r.Discarded),
		zap.Duration("elapsed", r.Elapsed.Round(time.Millisecond)),
		zap.String("event", "chain"),
	}
	if r.FirstRefusal != "" {
		fields = append(fields, zap.String("first_refusal", r.FirstRefusal))
	}
	if s := strings.TrimSpace(r.Stderr); s != "" {
		if r.StderrDiscarded > 0 {
			s += fmt.Sprintf(" [%d more bytes]", r.StderrDiscarded)
		}
		fields = append(fields, zap.String("stderr", s))
	}
	if err != nil {
		fields = append(fields, zap.Error(err))
		level := zapcore.WarnLevel
		switch outcome {
		case string(ReasonExitStatus):
			level = zapcore.InfoLevel
		case string(ReasonUnsafePath), string(ReasonMissingArgument), string(ReasonStartFailed):
			level = zapcore.ErrorLevel
		}
		log.Log(level, fmt.Sprintf("chained AuthorizedKeysCommand %s gave no keys (%s); EC2 Instance Connect keys are not affected", r.Command, outcome), fields...)
		return
	}
	msg := fmt.Sprintf("chained AuthorizedKeysCommand %s gave %d keys", r.Command, len(r.Keys))
	level := zapcore.DebugLevel
	if r.Refused > 0 {
		msg += fmt.Sprintf("; refused %d lines that are not authorized_keys entries", r.Refused)
		level = zapcore.WarnLevel
	}
	if r.Discarded > 0 {
		msg += fmt.Sprintf("; discarded %d bytes past chain.max_output_bytes", r.Discarded)
		level = zapcore.WarnLevel
	}
	log.Log(level, msg, fields...)
	for _, k := range r.Keys {
		log.Debug("passing on a key from the chained command",
			zap.String("user", user), zap.String("command", r.Command),
			zap.String("fingerprint", k.Fingerprint), zap.String("key_type", k.Key.Type()),
			zap.Bool("options", k.Options != ""), zap.String("event", "chain-key"))
	}
}
