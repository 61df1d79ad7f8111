// Package chrony talks to chronyd over its Unix command socket. It wraps
// github.com/facebook/time/ntp/chrony (which knows the packets) with what a probe or a scrape
// needs and that library leaves out: a private client socket that chronyd's user can reply to
// and that is removed afterwards, a deadline on every request, and a check that each reply
// answers the request just sent (command and sequence number), so a late reply to an earlier,
// timed-out request is never taken for the current one.
//
// The typed requests (Tracking, Sources, SourceStats, NTPData, ServerStats) are functions over
// the one-method Communicator interface, so consumers can test against a fake that returns
// canned fbchrony.Reply* values.
package chrony
