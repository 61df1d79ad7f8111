// Package dockerfile reads the repository's Dockerfile for the tests under test/: the runtime
// declarations of its final stage (USER, ENTRYPOINT, HEALTHCHECK, VOLUME, EXPOSE, STOPSIGNAL,
// LABEL) are the contract that the Kubernetes manifests, Compose file and the end-to-end
// stand-in image must agree with.
//
// It understands the subset of Dockerfile syntax the repository uses (comments, line
// continuations, JSON and shell forms, ARG substitution in LABEL values), not all of it:
// anything else it meets is an error, so a new construct makes the tests fail instead of being
// misread.
package dockerfile
