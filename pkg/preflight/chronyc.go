package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/chris-short/chrony/pkg/rundir"
)

// LinkChronycSocket points paths.ChronycLink (RUN_DIR/chronyd.sock, where chronyc looks
// without -h) at chronyd's socket in its private directory, so that `docker exec NAME chronyc
// tracking` and `kubectl exec` work as written: chronyd's socket lives in RUN_DIR/chronyd/
// (chronyd wants a directory it owns), and `cmdport 0` closes chronyc's UDP fallback. The link is relative, so it also resolves from outside the container
// (/proc/PID/root/...). Called as the chrony user after the privilege drop, never as root, so
// the link is the chrony user's; an existing link is replaced, and anything else at that path
// is an error, never followed or removed.
func LinkChronycSocket(paths rundir.Layout) error {
	link, target := paths.ChronycLink(), paths.ChronycLinkTarget()
	fi, err := os.Lstat(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("inspect chronyc's socket path %s in RUN_DIR=%s: %w", link, paths.Run, err)
	case fi.Mode()&fs.ModeSymlink == 0:
		return fmt.Errorf("chronyc's socket path %s in RUN_DIR=%s exists and is not a symlink (%s): remove it; the entrypoint links it to chronyd's socket %s",
			link, paths.Run, fi.Mode(), paths.Socket())
	default:
		if cur, err := os.Readlink(link); err == nil && cur == target {
			return nil
		}
		if err := os.Remove(link); err != nil {
			return fmt.Errorf("replace the symlink %s in RUN_DIR=%s: %w", link, paths.Run, err)
		}
	}
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("link chronyc's socket path %s to %s in RUN_DIR=%s: %w", link, target, paths.Run, err)
	}
	return nil
}
