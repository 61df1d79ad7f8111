// Command ntpload is a bounded NTP load generator for benchmarks: it sends client-mode NTP
// requests (built with facebook/time's ntp/protocol) from several UDP sockets, optionally from
// several loopback source addresses 127.0.0.x, and reports requests sent, replies received,
// loss, replies per second and reply latency p50/p99.
//
// It always stops by itself: sending ends after -requests requests or -duration, whichever
// comes first, and a request without a reply after -timeout counts as lost. It is the load
// half of bench/ntp-load.sh, which compares chronyd started by the entrypoint with the same
// chronyd started bare.
//
// chronyd rate-limits per source address, not per socket: from one address with the default
// ratelimit most requests go unanswered by design. -sources spreads the sockets over
// 127.0.0.1..127.0.0.N (all of 127/8 is loopback on Linux) to look like many clients.
package main
