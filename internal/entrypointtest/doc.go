// Package entrypointtest runs the entrypoint binary as a black box, the way a container
// runtime would: it builds cmd/entrypoint once, lays out a "container" of directories like the
// image's (a root-owned 1777 RUN_DIR, a STATE_DIR owned by the chrony user), runs the binary
// with exactly the environment a test gives it, and reads its JSON log lines back.
//
// Shared by the black-box tests (cmd/entrypoint, test/faults, test/security) so that each does
// not grow its own copy. Every wait has a deadline; every process started is stopped when the
// test ends.
package entrypointtest
