// Package security holds black-box tests of the built entrypoint (issue 5's security part):
// the NTS server end to end with a certificate made in the test, the command protocol reachable
// only through the Unix socket, a read-only and bounded HTTP endpoint, rate limiting under an
// NTP flood, and a table of hostile environments that must never start chronyd.
//
// Every chronyd here runs with -x (CLOCK_CONTROL=off, or chronytest's -x) or is replaced by
// the capreport stand-in, and all traffic stays on loopback. The tests run the entrypoint as
// root, which then drops to nobody, as in a container.
//
// Not repeated here: that no process is root after start-up and that chronyd holds only the
// capabilities its mode needs, which test/e2e (Docker) and cmd/entrypoint already check.
package security
