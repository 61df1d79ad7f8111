// Package e2e runs the image's promises in Docker and Podman: the README's docker run flags, the
// repository's docker-compose.yaml, two containers on an internal network syncing one from the
// other, the HEALTHCHECK, /metrics, a clean docker stop that leaves the drift file on the
// volume, a read-only root file system, no process running as root, the README's chronyc
// commands through docker exec (root start and default user), NTS server and client between two
// containers, the README's Podman run and podman-compose lines, and the clock-control path with
// the capability reporter standing in for chronyd.
//
// The image is $E2E_IMAGE when set (the release workflow passes the Alpine image it has just
// built), else the stand-in built here (test/standin, which lists how it differs). Podman gets a
// copy of it (docker save | podman load).
//
// Needs root, a running dockerd, podman and podman-compose; it fails, never skips, without them.
// Every container, network, volume and image it makes carries a per-run prefix and is removed at
// the end. All traffic stays on internal networks (`docker network create --internal`, `podman
// network create --internal`) and the host's side of them.
package e2e
