// Package syncwatch tells chronyd's synchronisation story in the entrypoint's log, so that
// `docker logs` answers "is it synchronised, to what, since when" without chronyc: one line
// when chronyd synchronises (first or again, info), changes its selected source (info), loses
// synchronisation (warn), or has sources whose host names do not resolve (warn, and info when
// they all resolve). It polls over the command socket, every 2 s until chronyd is synchronised
// and every 10 s once it is and nothing is left to confirm, with a deadline on every poll,
// logs only changes, and stops with its context.
//
// "Synchronised" is pkg/health's judgement without the root-distance threshold: a selected,
// reachable source, or the local clock when nothing else is configured (offline mode).
package syncwatch
