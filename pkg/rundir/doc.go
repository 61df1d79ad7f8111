// Package rundir is where the entrypoint and chronyd keep their files: every path under
// RUN_DIR (the rendered chrony.conf, chronyd's private directory with its command socket,
// pidfile and the ports it must serve, chronyc's socket link, the client sockets) and the
// two under STATE_DIR (the drift file, the NTS dump directory). It computes paths and touches
// nothing: the plan (pkg/launch) holds one Layout, and whoever writes, renders or dials a
// path takes it from there; a probe, which makes no plan, builds its own from the same two
// directories.
package rundir
