// Package metrics exposes chronyd's reports as Prometheus metrics with the names, labels,
// help texts and types of SuperQ/chrony_exporter 0.13.3 (all of its collectors: tracking,
// sources with ntpdata, sourcestats, serverstats), so dashboards and alerts written for it keep
// working, plus the supervisor's own facts under the distinct prefix chrony_container_.
//
// Each scrape dials chronyd once and makes one round of requests, bounded by a deadline;
// chrony_up is emitted from a deferred function so every scrape reports it, 0 when any
// request failed. Addresses are never resolved to names: source_name is the address.
package metrics
