// Package httpapi serves the probes and the metrics over HTTP: /healthz (live), /readyz
// (ready, with the one-line reason in the body) and /metrics. It only reads: GET and HEAD,
// nothing that changes chronyd's state. Every server timeout is set so that a slow or idle
// client cannot hold a connection open, and the server shuts down with its context.
package httpapi
