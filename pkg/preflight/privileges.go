package preflight

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"kernel.org/pub/linux/libs/security/libcap/cap"
	"kernel.org/pub/linux/libs/security/libcap/psx"
)

// Become switches the whole process (every thread: libcap's cap package uses psx) to uid and
// gid with groups as its only supplementary groups (when it can set them: in a root start),
// keeping only keep. When it holds CAP_SETPCAP it also
// narrows the bounding set to keep, so no later exec can regain anything else. Without
// CAP_SETUID/CAP_SETGID it can only trim capabilities, and uid and gid must already match.
func Become(uid, gid int, groups []int, keep Caps) error {
	now := cap.GetProc()
	if ok, _ := now.GetFlag(cap.Permitted, cap.SETPCAP); ok {
		var drop []cap.Value
		for v := range cap.MaxBits() {
			if !keep.Has(v) {
				drop = append(drop, v)
			}
		}
		if err := cap.DropBound(drop...); err != nil {
			return fmt.Errorf("narrow the capability bounding set to %s: %w", keep, err)
		}
	}
	if os.Getegid() != gid || os.Getgid() != gid {
		if err := cap.SetGroups(gid, groups...); err != nil {
			return fmt.Errorf("set group id %d, supplementary groups %v: %w", gid, groups, err)
		}
	} else if os.Geteuid() == 0 {
		if err := cap.SetGroups(gid, groups...); err != nil { // root's supplementary groups go
			return fmt.Errorf("set group id %d: %w", gid, err)
		}
	}
	if os.Geteuid() != uid || os.Getuid() != uid {
		// SetUID sets KEEPCAPS around setuid, so the permitted set survives leaving root.
		if err := cap.SetUID(uid); err != nil {
			return fmt.Errorf("set user id %d: %w", uid, err)
		}
	}
	set := cap.NewSet()
	for _, flag := range []cap.Flag{cap.Permitted, cap.Effective, cap.Inheritable} {
		if err := set.SetFlag(flag, true, keep.Values()...); err != nil {
			return fmt.Errorf("build capability set %s: %w", keep, err)
		}
	}
	if err := set.SetProc(); err != nil {
		return fmt.Errorf("reduce capabilities to %s (have %s): %w", keep, cap.GetProc(), err)
	}
	if err := cap.ResetAmbient(); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	return nil
}

// ClearCapabilities empties every capability set of this process, ambient included. The
// entrypoint calls it once chronyd runs: from then on it needs none.
func ClearCapabilities() error {
	if err := cap.ResetAmbient(); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if err := cap.NewSet().SetProc(); err != nil {
		return fmt.Errorf("clear capabilities: %w", err)
	}
	return nil
}

// prSetNoNewPrivs is PR_SET_NO_NEW_PRIVS from <linux/prctl.h>.
const prSetNoNewPrivs = 38

// SetNoNewPrivs sets no_new_privs on every thread of this process, so chronyd inherits it: no
// exec by chronyd or its helpers can gain a capability (from a setuid binary or a file
// capability) beyond the ambient ones it starts with, whatever is left in a bounding set the
// entrypoint could not narrow (no CAP_SETPCAP). Ambient capabilities still pass.
func SetNoNewPrivs() error {
	if _, _, errno := psx.Syscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); errno != 0 {
		return fmt.Errorf("set no_new_privs: %w", errno)
	}
	return nil
}

// DropToUser makes a process started as root become the user name (its primary group, no
// supplementary groups), for a probe that must enter chronyd's 0750 socket directory. Leaving
// root with setuid clears every capability, and a probe starts no program, so the plain
// (all-threads) syscalls are enough: Become's bounding-set narrowing costs a probe
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
