package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/chris-short/chrony/pkg/config"
)

// ChronycSocketPath is where chronyc looks for chronyd's socket when given no -h: Alpine's and
// Debian's chrony are built with /run/chrony as their run directory. With RUN_DIR at its
// default, it is RUN_DIR/chronyd.sock.
func ChronycSocketPath(s *config.Settings) string { return filepath.Join(s.RunDir, "chronyd.sock") }

// LinkChronycSocket points RUN_DIR/chronyd.sock at chronyd's socket in its private directory,
// so that `docker exec NAME chronyc tracking` and `kubectl exec` work as written: chronyd's
// socket lives in RUN_DIR/chronyd/ (chronyd wants a directory it owns), and `cmdport 0` closes
// chronyc's UDP fallback. The link is relative, so it also resolves from outside the container
// (/proc/PID/root/...). Called as the chrony user after the privilege drop, never as root, so
// the link is the chrony user's; an existing link is replaced, and anything else at that path
// is an error, never followed or removed.
func LinkChronycSocket(s *config.Settings) error {
	link := ChronycSocketPath(s)
	target := filepath.Join(filepath.Base(s.ChronydDir()), filepath.Base(s.SocketPath()))
	fi, err := os.Lstat(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("inspect chronyc's socket path %s in RUN_DIR=%s: %w", link, s.RunDir, err)
	case fi.Mode()&fs.ModeSymlink == 0:
		return fmt.Errorf("chronyc's socket path %s in RUN_DIR=%s exists and is not a symlink (%s): remove it; the entrypoint links it to chronyd's socket %s",
			link, s.RunDir, fi.Mode(), s.SocketPath())
	default:
		if cur, err := os.Readlink(link); err == nil && cur == target {
			return nil
		}
		if err := os.Remove(link); err != nil {
			return fmt.Errorf("replace the symlink %s in RUN_DIR=%s: %w", link, s.RunDir, err)
		}
	}
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("link chronyc's socket path %s to %s in RUN_DIR=%s: %w", link, target, s.RunDir, err)
	}
	return nil
}
