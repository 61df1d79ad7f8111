package chronylog

import (
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TimeField is the zap field that carries chronyd's own timestamp. The entry's time stays the
// moment the entrypoint read the line: chronyd's clock has one-second resolution and is the
// clock chronyd may step, so using it as the entry time could reorder the log against the
// entrypoint's own lines.
const TimeField = "ts_chronyd"

// fatalPrefix is what chronyd 4.x writes before the message of an error that ends it.
const fatalPrefix = "Fatal error : "

// Entry is one parsed chronyd line.
type Entry struct {
	Time    time.Time     // chronyd's timestamp; zero when the line had none
	Level   zapcore.Level // ErrorLevel for "Fatal error" and chronyd's errors, WarnLevel for its warnings, else InfoLevel
	Message string
}

// Parse splits one stderr line (without its newline) into timestamp, level and message.
// A line without a timestamp (chronyd prints some before its log is set up) is kept whole.
func Parse(line string) Entry {
	line = strings.TrimRight(line, "\r\n")
	e := Entry{Level: zapcore.InfoLevel, Message: line}
	if ts, rest, ok := strings.Cut(line, " "); ok && strings.HasSuffix(ts, "Z") {
		if t, err := time.Parse(time.RFC3339, ts); err == nil {
			e.Time = t
			e.Message = rest
		}
	}
	if msg, ok := strings.CutPrefix(e.Message, fatalPrefix); ok {
		e.Level = zapcore.ErrorLevel
		e.Message = msg
		return e
	}
	e.Level = levelOf(e.Message)
	return e
}

// Log writes one chronyd line to log at the line's level.
func Log(log *zap.Logger, line string) {
	e := Parse(line)
	var fields []zap.Field
	if !e.Time.IsZero() {
		fields = append(fields, zap.Time(TimeField, e.Time))
	}
	if ce := log.Check(e.Level, e.Message); ce != nil {
		ce.Write(fields...)
	}
}
