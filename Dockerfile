# The chrony image: Alpine's chronyd (with NTS) supervised by our static Go entrypoint as PID 1.
#
# Build:  docker buildx build --build-arg VERSION=$(git describe --always) \
#           --build-arg REVISION=$(git rev-parse HEAD) -t ghcr.io/chris-short/chrony .
# The runtime declarations of the final stage (USER, ENTRYPOINT, HEALTHCHECK, VOLUME, EXPOSE,
# STOPSIGNAL, LABEL) are copied verbatim into the end-to-end tests' stand-in image
# (test/standin): change them here only.

ARG GO_VERSION=1.26.8
# Alpine 3.24 split NTS out of `chrony` into `chrony-nts` (the plain package is built without
# GnuTLS: `-NTS` in `chronyd --version`). The build below fails if NTS is missing.
ARG ALPINE_VERSION=3.24

# Cross-compile on the build machine's own platform: the entrypoint is pure Go, so no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS build
ARG TARGETOS
ARG TARGETARCH
# v7 for linux/arm/v7: GOARM=7 (hardware floating point, as Alpine's armv7 packages).
ARG TARGETVARIANT
ARG VERSION=dev
ARG REVISION=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=${TARGETVARIANT#v} go build -trimpath -tags urfave_cli_no_docs,urfave_cli_no_suggest,nethttpomithttp2 \
      -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/entrypoint ./cmd/entrypoint

FROM alpine:${ALPINE_VERSION}
ARG VERSION=dev
ARG REVISION=unknown

COPY --from=build /out/entrypoint /usr/local/bin/entrypoint
COPY alpine/rootfs/ /

# One layer: chrony-nts in, the setcap tool in and out again.
# - The package's chrony.conf goes: a file at /etc/chrony/chrony.conf is then always one the user
#   mounted, and the entrypoint renders its own into /run/chrony otherwise.
# - The entrypoint gets cap_sys_time and cap_net_bind_service as *permitted* file capabilities
#   only (+p, no +e): started as UID 100 by a runtime that grants those capabilities (Docker with
#   --cap-add and without no-new-privileges, Kubernetes with allowPrivilegeEscalation), it holds
#   them in its permitted set and hands exactly the ones chronyd needs to chronyd as ambient
#   capabilities (never as file capabilities on chronyd, which would clear the ambient set).
#   Without +e a capability the runtime withheld does not make exec fail, and the entrypoint stays
#   capability-less until it decides to raise one. cap_setuid/cap_setgid are left out on purpose:
#   a UID 100 process holding them could make itself root; a root start (--user 0) gets them from
#   the runtime instead, and the entrypoint then drops to UID 100 itself.
# - /run/chrony is 1777 (like /tmp) because Docker gives a tmpfs mounted over an image directory
#   that directory's mode, but root ownership: a plain `--tmpfs /run/chrony` is then writable by
#   UID 100, which makes chronyd's own 0750 subdirectory in it (Kubernetes emptyDirs are 0777).
# - The chrony user and group come from the package (adduser -S); the image promises 100:101, so
#   the build checks it rather than trusting it.
RUN set -eux; \
    apk add --no-cache chrony-nts; \
    apk add --no-cache --virtual .setcap libcap-setcap; \
    setcap cap_sys_time,cap_net_bind_service+p /usr/local/bin/entrypoint; \
    apk del .setcap; \
    chronyd --version; \
    chronyd --version | grep -q '+NTS'; \
    test "$(id -u chrony):$(id -g chrony)" = "100:101"; \
    rm -f /etc/chrony/chrony.conf; \
    install -d -o chrony -g chrony -m 0750 /var/lib/chrony; \
    install -d -o root -g root -m 0755 /etc/chrony/conf.d; \
    install -d -o root -g root -m 1777 /run/chrony; \
    /usr/local/bin/entrypoint version

USER 100:101
ENTRYPOINT ["/usr/local/bin/entrypoint"]
# Healthy means serving synchronised time, not merely "chronyd answers": see the README on what an
# upstream outage then does under orchestrators that restart unhealthy containers. The first sync
# with iburst takes about 5-10 s; the start period covers slow DNS and NTS key exchange.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["/usr/local/bin/entrypoint", "probe", "ready"]
STOPSIGNAL SIGTERM
# 123/udp NTP, 9123/tcp /healthz /readyz /metrics, 4460/tcp NTS-KE (only with NTS_SERVER_CERT/KEY).
EXPOSE 123/udp 9123/tcp 4460/tcp
VOLUME ["/var/lib/chrony"]
LABEL org.opencontainers.image.title="chrony" \
      org.opencontainers.image.description="Hardened chrony NTP server and client, non-root, with probes and metrics" \
      org.opencontainers.image.source="https://github.com/chris-short/chrony" \
      org.opencontainers.image.url="https://github.com/chris-short/chrony" \
      org.opencontainers.image.licenses="MIT AND GPL-2.0-or-later" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
