// Package standin builds the end-to-end tests' stand-in for the real image.
//
// The real image (Dockerfile) is Alpine plus Alpine's chrony 4.8 and cannot be built here: no
// Alpine registry is reachable. The container tests run against the stand-in by default and
// against any other image named by E2E_IMAGE: the release workflow runs them on the Alpine image
// it has just built, before anything is pushed.
//
// What the stand-in shares with the real image: the static entrypoint at the same path with the
// same +p file capabilities, the chrony user and group 100:101 (named "chrony"), the same
// directories with the same owners and modes, alpine/rootfs, and the real Dockerfile's runtime
// declarations copied verbatim (user, entrypoint, healthcheck, volumes, ports, stop signal,
// labels); the e2e tests check those anyway.
//
// How it differs from the real image (the one list of differences; keep it complete):
//   - chrony is Debian sid's 4.9 (ChronyVersion, scripts/fetch-chrony.sh), not Alpine's 4.8:
//     the nearest release Debian serves, with the same chronyc behaviour (chronyc run as root
//     drops to its compiled-in user; its client socket in a hidden subdirectory), the same
//     command reply shapes and a current NTS. chronyd and chronyc come with their own glibc
//     and the other libraries the loader lists (the real image: musl, Alpine's GnuTLS).
//   - uid 100 has a second name, "_chrony" (ChronycUser): Debian builds chronyc and chronyd
//     with that default user, Alpine with "chrony". The first name, "chrony", is what lookups
//     of uid 100 return, as in the real image.
//   - /bin/chown, which the DaemonSet's init container runs, is the build machine's coreutils
//     chown (busybox's in the real image). There is no shell and no other busybox tool.
//   - /usr/local/bin/capreport, the capability reporter (internal/testbin/capreport), exists
//     only here: the tests put it in place of chronyd (CHRONYD=...) to check the clock-control
//     path without ever giving a real chronyd CAP_SYS_TIME. Against another image the e2e tests
//     bind-mount it instead.
//   - The rootfs is packed with `tar --numeric-owner` and `docker import`ed (COPY --chown left
//     directories root-owned here), then the runtime declarations are built on top of it.
package standin
