// Package e2e runs the image's promises in Docker with the stand-in image (test/standin): the
// README's docker run flags, the repository's docker-compose.yaml, two containers on an internal
// network syncing one from the other, the HEALTHCHECK, /metrics, a clean docker stop that leaves
// the drift file on the volume, a read-only root file system, no process running as root, and
// the clock-control path with the capability reporter standing in for chronyd.
//
// Needs root and a running dockerd; it fails, never skips, without them. Every container,
// network, volume and image it makes carries a per-run prefix and is removed at the end. All
// traffic stays on a `docker network create --internal` network and the host's side of it.
package e2e
