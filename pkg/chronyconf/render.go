package chronyconf

import (
	"context"

	"github.com/chris-short/chrony/pkg/config"
)

// Render returns the chrony.conf for s. clockControl says whether chronyd will discipline the
// clock (it decides, for example, whether rtcsync is written). Deterministic: the same input
// gives the same bytes.
func Render(s *config.Settings, clockControl bool) []byte {
	panic("chronyconf.Render: not written yet")
}

// RenderMounted returns the small file chronyd is started with when the user mounted their own
// chrony.conf at s.ChronyConf: it includes that file unchanged and sets only what the
// entrypoint needs to find chronyd (command socket, pidfile) and the drop-in directory.
func RenderMounted(s *config.Settings) []byte {
	panic("chronyconf.RenderMounted: not written yet")
}

// Check runs `chronyd -p -f path` (bounded by ctx) and returns chronyd's own complaint as the
// error when it rejects the file.
func Check(ctx context.Context, chronyd, path string) error {
	panic("chronyconf.Check: not written yet")
}
