// Package standin builds the end-to-end tests' stand-in for the real image.
//
// The real image (Dockerfile) is Alpine plus Alpine's chrony and cannot be built here: no
// registry is reachable. The stand-in differs from it only in where chronyd comes from: Debian's
// chronyd and chronyc (scripts/fetch-chrony.sh) with the shared libraries ldd lists, the static
// entrypoint at the same path with the same +p file capabilities, /etc/passwd and /etc/group
// with chrony 100:101, and the same directories and owners. The rootfs is packed with
// `tar --numeric-owner` and `docker import`ed (COPY --chown left directories root-owned here),
// then a Dockerfile that repeats the real Dockerfile's runtime declarations verbatim is built on
// top of it, so both images declare the same user, entrypoint, healthcheck, volumes, ports, stop
// signal and labels by construction; the e2e tests check it anyway.
//
// One extra file exists only here: the capability reporter (internal/testbin/capreport), which
// the tests put in place of chronyd (CHRONYD=...) to check the clock-control path without ever
// giving a real chronyd CAP_SYS_TIME.
package standin
