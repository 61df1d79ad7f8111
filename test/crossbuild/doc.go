// Package crossbuild checks the entrypoint of the 32-bit ARM image (linux/arm/v7) on this
// machine: cross-compiled as the Dockerfile compiles it (GOARCH=arm GOARM=7), and run under
// Debian's qemu-arm-static (installed by .ci/run) to print its version and the default
// chrony.conf, the same output as the native build.
package crossbuild
