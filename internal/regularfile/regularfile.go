// Package regularfile reads files that another user may have replaced with a FIFO, a device or
// a symlink (the chrony user in RUN_DIR or STATE_DIR, a mounted Secret, a fake sysfs tree):
// only a regular file is read, and opening never blocks.
package regularfile

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// Read reads at most limit bytes of the regular file at path. The open is O_NONBLOCK, so a
// FIFO cannot hang it, and fstat then refuses anything but a regular file with an error that
// says "not a regular file" and what it is. With noFollow a symlink at path is refused too
// (O_NOFOLLOW); without it a link is followed, as a Kubernetes Secret's files need.
func Read(path string, limit int64, noFollow bool) ([]byte, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if noFollow {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	return io.ReadAll(io.LimitReader(f, limit))
}
