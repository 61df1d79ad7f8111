// Package launch is the entrypoint's start, in three steps. Gather reads what only I/O can
// tell (what the container gave this process, the reference clocks found, what is at
// CHRONY_CONF, and what `chronyd -p` makes of the file to be written), writing nothing.
// Decide turns the settings and those facts into a Plan, with no I/O at all: the chrony
// user, groups and capabilities, the file chronyd reads, its argv and the ports it must
// serve (golden-tested). Execute carries the plan out: checks the ports are free, gives up
// privileges, prepares the directories and writes the files as chronyd's user, starts
// chronyd and returns once it runs and this process holds no capability. Running.Wait then
// supervises it until it exits, restarting it when an NTS server's renewed certificate is
// valid (see pkg/ntswatch) and keeping shared NTS cookie keys reloaded.
package launch
