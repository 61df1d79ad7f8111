// Package metrics exposes chronyd's reports as Prometheus metrics with the names, labels,
// help texts and types of SuperQ/chrony_exporter 0.13.3 (all of its collectors: tracking,
// sources with ntpdata, sourcestats, serverstats), so dashboards and alerts written for it keep
// working; optionally its 0.14 clients collector; and under the distinct prefix
// chrony_container_ this project's own series: the entrypoint's facts, and (Options.Extended)
// leap status, the clock error bound, and readiness judged by pkg/health.
//
// A Collector keeps one connection to chronyd and runs one round of requests at a time,
// bounded by a deadline: scrapes that arrive while a round runs share its answer, so the
// number of scrapers does not set chronyd's load. chrony_up is emitted from a deferred
// function so every round reports it, 0 when any request failed; failures are logged at most
// once per WarnEvery each. Addresses are never resolved to names: source_name is the name
// chronyd was configured with (Options.SourceNames) or the address.
package metrics
