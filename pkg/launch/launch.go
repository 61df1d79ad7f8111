package launch

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// DropToUser makes a process started as root become the user name (its primary group, no
// supplementary groups), for a probe that must enter chronyd's 0750 socket directory. Leaving
// root with setuid clears every capability, and a probe starts no program, so the plain
// (all-threads) syscalls are enough: preflight.Become's bounding-set narrowing costs a probe
// several milliseconds of cross-thread calls for nothing. Not root: nothing to do.
func DropToUser(name string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("drop to user %q: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("drop to user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("drop to user %q: gid %q: %w", name, u.Gid, err)
	}
	if uid == 0 {
		return nil
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("drop to user %q: clear supplementary groups: %w", name, err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("drop to user %q: set group id %d: %w", name, gid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("drop to user %q: set user id %d: %w", name, uid, err)
	}
	return nil
}
