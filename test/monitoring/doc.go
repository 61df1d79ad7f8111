// Package monitoring tests the monitoring bundle in monitoring/ against the real things:
// promtool checks and unit-tests the rules, a real Prometheus scrapes real entrypoints
// (chronyd -x on loopback) and every expression of a rule or a dashboard panel must return
// data, and the alerts for lost upstreams must turn true when the upstreams stop.
// Prometheus and promtool are Debian's, fetched by scripts/fetch-prometheus.sh into .cache.
package monitoring
