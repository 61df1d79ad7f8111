package faults

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// TestChronydWarningsSurviveLogLevel: with LOG_LEVEL=warn (cturra's 1) chronyd's own
// warnings still reach the log at warn level, and its informational lines do not.
func TestChronydWarningsSurviveLogLevel(t *testing.T) {
	t.Parallel()
	up := chronytest.StartUpstream(t)
	for _, level := range []string{"warn", "1"} {
		t.Run("LOG_LEVEL="+level, func(t *testing.T) {
			c := entrypointtest.NewContainer(t, up.SourceEntry())
			c.Set(t, "LOG_LEVEL="+level)
			drift := filepath.Join(c.State, "drift")
			entrypointtest.Must(t, os.WriteFile(drift, []byte("garbage\n"), 0o644))
			entrypointtest.Must(t, os.Chown(drift, entrypointtest.ChronyUID, entrypointtest.ChronyGID))
			logs := runAndStop(t, c)
			lines, err := entrypointtest.ParseLogs(logs)
			entrypointtest.Must(t, err)
			warned := 0
			for _, l := range lines {
				if l.Level == "info" || l.Level == "debug" {
					t.Errorf("LOG_LEVEL=%s let through %s", level, l.Raw)
				}
				if l.Logger == "chronyd" && l.Level == "warn" && len(linesSaying([]entrypointtest.LogLine{l}, "Could not read valid frequency and skew from driftfile")) == 1 {
					warned++
				}
			}
			if warned != 1 {
				t.Errorf("want chronyd's warning about the drift file once at warn level, got %d:\n%s", warned, logs)
			}
		})
	}
}
