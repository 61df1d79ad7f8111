package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/chris-short/chrony/pkg/rundir"
)

// PrepareDirs readies the directories of paths that chronyd uses. Called after Become, as the chrony user
// (uid, gid), so that it works on what runtimes give by default: a root-owned 1777 tmpfs or a
// 0777 emptyDir at RUN_DIR is fine, because chronyd gets a private subdirectory that this
// process creates with chronyd's owner and mode 0750 (chronyd rejects a socket directory it
// does not own or that grants "other" anything). It removes a stale pidfile and socket: a
// pidfile left by the previous run names pid 1, which is alive in the new container and
// would make chronyd refuse to start.
//
// STATE_DIR must exist and be writable by uid: the entrypoint never chowns a user's volume
// (it has given up root by now); the error says how to fix ownership. CHRONY_CONF_DIR needs
// nothing: chronyd 4.3 treats a missing confdir as empty.
func PrepareDirs(paths rundir.Layout, uid, gid int) error {
	if err := os.MkdirAll(paths.Run, 0o755); err != nil {
		if errors.Is(err, syscall.EROFS) {
			return runDirReadOnly(paths.Run, err)
		}
		return fmt.Errorf("prepare RUN_DIR=%s: %w; RUN_DIR must be writable by uid %d: mount a tmpfs or emptyDir there", paths.Run, err, uid)
	}
	dir := paths.ChronydDir()
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		if errors.Is(err, syscall.EROFS) {
			return runDirReadOnly(paths.Run, err)
		}
		return fmt.Errorf("create chronyd's directory %s in RUN_DIR=%s (%s): %w; RUN_DIR must be writable by uid %d: mount a tmpfs or emptyDir there",
			dir, paths.Run, describe(paths.Run), err, uid)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("prepare %s: exists and is not a directory (%s): remove it", dir, fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid {
		if err := os.Lchown(dir, uid, gid); err != nil {
			return fmt.Errorf("chronyd's directory %s is owned by %d:%d, not %d:%d, and cannot be changed: %w; remove it (it is recreated) or chown %d:%d %s",
				dir, st.Uid, st.Gid, uid, gid, err, uid, gid, dir)
		}
	}
	if fi.Mode().Perm() != 0o750 {
		if err := os.Chmod(dir, 0o750); err != nil {
			return fmt.Errorf("set mode 0750 on %s: %w", dir, err)
		}
	}
	if err := LinkChronycSocket(paths); err != nil {
		return err
	}
	for _, stale := range []string{paths.PIDFile(), paths.Socket()} {
		if err := os.Remove(stale); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", stale, err)
		}
	}
	return checkWritable("STATE_DIR", paths.State, uid, gid)
}

// writeCheckSize is what checkWritable writes: room for chronyd's drift file and NTS keys.
const writeCheckSize = 4096

// checkWritable proves dir writable by creating, filling and removing a file in it: permission
// bits alone miss ACLs, read-only mounts, user namespaces and a full disk.
func checkWritable(env, dir string, uid, gid int) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s=%s: %w; create it (a volume owned by %d:%d)", env, dir, err, uid, gid)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s=%s is not a directory (%s)", env, dir, fi.Mode())
	}
	f, err := os.CreateTemp(dir, ".entrypoint-write-check-*")
	if errors.Is(err, syscall.EROFS) {
		// chown would not help: say what would.
		return fmt.Errorf("%s=%s is on a read-only file system: %w; chronyd writes its drift file (and NTS keys) there: "+
			"mount it read-write (docker run -v VOLUME:%s without :ro; Kubernetes volumeMounts readOnly: false), "+
			"or mount a tmpfs or emptyDir there to run without keeping state (docker run --tmpfs %s:uid=%d,gid=%d; Kubernetes emptyDir: {})", env, dir, syscall.EROFS, dir, dir, uid, gid)
	}
	if err != nil {
		return fmt.Errorf("%s=%s is not writable by uid %d (it is %s): %w; fix: chown %d:%d %s on the host or volume, "+
			"or use a named volume (Docker copies the image's ownership into a new one), or in Kubernetes set fsGroup: %d, "+
			"or to run without keeping state mount a tmpfs owned by that user (docker run --tmpfs %s:uid=%d,gid=%d)",
			env, dir, uid, describe(dir), err, uid, gid, dir, gid, dir, uid, gid)
	}
	name := f.Name()
	// An empty file fits on a full disk; the drift file and NTS keys need a few KiB, and
	// chronyd fails to save them silently at each stop. Write that much to find out.
	_, werr := f.Write(make([]byte, writeCheckSize))
	if werr == nil {
		werr = f.Sync()
	}
	f.Close()
	if werr != nil {
		_ = os.Remove(name)
		if errors.Is(werr, syscall.ENOSPC) || errors.Is(werr, syscall.EDQUOT) {
			return fmt.Errorf("%s=%s has no space left for %d bytes: %w; chronyd could not save its drift file (and NTS keys) there: "+
				"free space on that volume or make it larger", env, dir, writeCheckSize, syscall.ENOSPC)
		}
		return fmt.Errorf("%s=%s: write check file: %w", env, dir, werr)
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("%s=%s: remove write check file: %w", env, dir, err)
	}
	return nil
}

// describe gives a path's owner and mode for error messages: "owner 0:0 mode 0755".
func describe(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("owner %d:%d mode %04o", st.Uid, st.Gid, st.Mode&0o7777)
}

// runDirReadOnly is the error for a RUN_DIR on a read-only file system: the quick start with
// --read-only and no tmpfs.
func runDirReadOnly(dir string, err error) error {
	return fmt.Errorf("RUN_DIR=%s is on a read-only file system: %w; the entrypoint writes chrony.conf and chronyd its socket and pidfile there: "+
		"mount a tmpfs there (docker run --read-only --tmpfs %s; Kubernetes an emptyDir volume mounted at %s)", dir, err, dir, dir)
}

// WriteFile puts data at path (mode 0644) by creating a new file beside it (O_EXCL, so never
// through a name someone else prepared) and renaming it into place, so no symlink is followed
// and no FIFO is opened. A path that exists and is not a regular file (a symlink, a FIFO, a
// directory) is refused with an error naming it: in a shared RUN_DIR someone put it there.
func WriteFile(env, path string, data []byte) error {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("write %s in %s: it exists and is not a regular file (%s): remove it; the entrypoint never writes through a symlink or into a FIFO", path, env, fi.Mode().Type())
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s in %s: %w", path, env, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		if errors.Is(err, syscall.EROFS) && env == "RUN_DIR="+filepath.Dir(path) {
			return runDirReadOnly(filepath.Dir(path), err)
		}
		return fmt.Errorf("write %s in %s: %w", path, env, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("write %s in %s: %w; an earlier start left it owned by another user in a sticky directory: remove it (a fresh tmpfs or emptyDir has none)", path, env, err)
		}
		return fmt.Errorf("write %s in %s: %w", path, env, err)
	}
	return nil
}

// CheckDriftFile looks at chronyd's drift file without ever blocking: lstat first, and only a
// regular file is opened (O_NONBLOCK|O_NOFOLLOW, so a FIFO swapped in meanwhile cannot hang
// the start). A missing file is fine (nil, nil). Anything else but a regular file is an error
// naming it: chronyd would block on a FIFO, silently, before it serves anything. An unreadable
// regular file is returned as warn: chronyd ignores it and replaces it at its next clean stop.
func CheckDriftFile(path string) (warn, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return err, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("drift file %s in STATE_DIR is not a regular file (%s): remove it (chronyd recreates it); chronyd would block on a FIFO or follow a link", path, fi.Mode().Type())
	}
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}, nil
	}
	var st syscall.Stat_t
	serr := syscall.Fstat(fd, &st)
	syscall.Close(fd)
	if serr == nil && st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, fmt.Errorf("drift file %s in STATE_DIR is not a regular file: remove it (chronyd recreates it)", path)
	}
	return nil, nil
}
