// Package testcert makes the certificates NTS tests need: a throw-away CA and a server
// certificate it signed, written as PEM files the way a Kubernetes TLS Secret is mounted
// (ca.crt, tls.crt, tls.key), with the key's owner and mode chosen by the test, since which
// user may read the key is what such tests are about.
package testcert
