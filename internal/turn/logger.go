package turn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// levelTrace sits below slog.LevelDebug: pion's trace output is per packet
// and should not appear when an operator merely turns on debug.
const levelTrace = slog.LevelDebug - 4

// slogFactory adapts a *slog.Logger to pion's logging.LoggerFactory so pion's
// messages land in Airlock's log with a "scope" attribute.
type slogFactory struct{ log *slog.Logger }

var _ logging.LoggerFactory = slogFactory{}

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{f.log.With("scope", scope)}
}

type slogLeveled struct{ log *slog.Logger }

var _ logging.LeveledLogger = slogLeveled{}

func (l slogLeveled) emit(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg)
}

// emitf formats only when the level is enabled: pion traces every packet.
func (l slogLeveled) emitf(level slog.Level, format string, args []any) {
	if l.log.Enabled(context.Background(), level) {
		l.emit(level, fmt.Sprintf(format, args...))
	}
}

func (l slogLeveled) Trace(msg string)                  { l.emit(levelTrace, msg) }
func (l slogLeveled) Tracef(format string, args ...any) { l.emitf(levelTrace, format, args) }
func (l slogLeveled) Debug(msg string)                  { l.emit(slog.LevelDebug, msg) }
func (l slogLeveled) Debugf(format string, args ...any) { l.emitf(slog.LevelDebug, format, args) }
func (l slogLeveled) Info(msg string)                   { l.emit(slog.LevelInfo, msg) }
func (l slogLeveled) Infof(format string, args ...any)  { l.emitf(slog.LevelInfo, format, args) }
func (l slogLeveled) Warn(msg string)                   { l.emit(slog.LevelWarn, msg) }
func (l slogLeveled) Warnf(format string, args ...any)  { l.emitf(slog.LevelWarn, format, args) }
func (l slogLeveled) Error(msg string)                  { l.emit(slog.LevelError, msg) }
func (l slogLeveled) Errorf(format string, args ...any) { l.emitf(slog.LevelError, format, args) }
