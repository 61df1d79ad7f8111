package chrony

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// clientDirPrefix starts the name of every client socket directory; the pid of the process
// that made it follows, so a sweep can tell a live client's directory from a dead one's.
const clientDirPrefix = "client-"

// Sweep bounds.
const (
	// maxSweepEntries bounds how many entries of the client directory one sweep reads.
	maxSweepEntries = 4096
	// maxClientDirEntries bounds what a sweep removes inside one client directory (one socket
	// is all a client makes).
	maxClientDirEntries = 8
	// legacyStaleAfter is when a client directory without a pid in its name (made by an older
	// entrypoint) counts as abandoned: far longer than any request waits.
	legacyStaleAfter = time.Minute
)

// clientDirPattern is the os.MkdirTemp pattern of this process's client directories.
func clientDirPattern() string {
	return clientDirPrefix + strconv.Itoa(os.Getpid()) + "-"
}

// SweepClientDirs removes the client socket directories in clientDir whose maker is gone: a
// probe killed mid-request (SIGKILL at a Kubernetes probe timeout) never runs Close, and each
// such leftover costs RUN_DIR two inodes for good. A directory is abandoned when the pid in its
// name is no running process (a pid reused since then only delays the removal), or, without a
// pid, when it is older than a minute. Dial sweeps before it binds, so leftovers never pile up
// beyond the clients killed since the last request; the entrypoint sweeps once at start.
//
// It never follows a symbolic link and removes only non-directory entries of a client
// directory and then the directory itself, so a planted link or tree is left alone. Directories
// it may not remove (another user's, in a sticky RUN_DIR) are skipped. It returns how many
// directories it removed; err reports only a clientDir it could not read.
func SweepClientDirs(clientDir string) (removed int, err error) {
	dfd, err := unix.Open(clientDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("sweep client directories in %s: %w", clientDir, err)
	}
	d := os.NewFile(uintptr(dfd), clientDir)
	defer d.Close()
	names, err := d.Readdirnames(maxSweepEntries)
	if err != nil && len(names) == 0 {
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		return 0, fmt.Errorf("sweep client directories in %s: %w", clientDir, err)
	}
	now := time.Now()
	for _, name := range names {
		if !strings.HasPrefix(name, clientDirPrefix) || !abandoned(dfd, name, now) {
			continue
		}
		if removeClientDir(dfd, name) {
			removed++
		}
	}
	return removed, nil
}

// abandoned reports whether the client directory name in dfd belongs to no running process.
func abandoned(dfd int, name string, now time.Time) bool {
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return false
	}
	pidPart, _, ok := strings.Cut(strings.TrimPrefix(name, clientDirPrefix), "-")
	pid, err := strconv.Atoi(pidPart)
	if !ok || err != nil || pid <= 0 {
		return now.Sub(time.Unix(st.Mtim.Unix())) > legacyStaleAfter
	}
	if pid == os.Getpid() {
		return false // this process's own requests in flight
	}
	// EPERM: the process exists but belongs to another user.
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// removeClientDir unlinks the entries of dfd/name (never a subdirectory) and then the directory,
// all relative to directory descriptors opened without following links.
func removeClientDir(dfd int, name string) bool {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(fd), name)
	entries, _ := f.Readdirnames(maxClientDirEntries)
	for _, e := range entries {
		_ = unix.Unlinkat(fd, e, 0) // a subdirectory fails with EISDIR and stays
	}
	f.Close()
	return unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR) == nil
}
