// Package preflight reads what the container was given (uid, capability sets, the chrony
// user, the unprivileged port floor), decides how chronyd may run, and applies that decision:
// privileges and chronyd's directories.
//
// One path serves both ways a container can hold CAP_SYS_TIME. Started as root, the process
// drops itself to the chrony user keeping only the capabilities chronyd needs in its permitted
// set; started as non-root with them already permitted (Podman, a "+p" file capability), it
// only trims its sets. Either way chronyd then receives them as ambient capabilities and the
// entrypoint clears its own once chronyd runs, so after start-up nothing in the container is
// root or holds a capability chronyd does not need.
//
// A refclock device (REFCLOCK) is checked the same way: chronyd, never root here, must be able
// to open it; in a root start the device's group, and only that, becomes chronyd's
// supplementary group. No device node is ever changed.
package preflight
