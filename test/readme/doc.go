// Package readme keeps README.md true: its variables table is generated from
// config.Variables, its quick-start `docker run` line is the one the container end-to-end tests
// run, and the messages its troubleshooting table quotes exist in the code.
package readme
