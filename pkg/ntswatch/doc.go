// Package ntswatch keeps an NTS server's chronyd on what is on disk now, for what chronyd
// reads only once:
//
//   - The certificate and key (NTS_SERVER_CERT, NTS_SERVER_KEY): chronyd loads them at start
//     and never again, while cert-manager renews them every few weeks by rewriting the Secret
//     (Kubernetes swaps the mounted volume's ..data symlink). CertWatcher polls both files'
//     contents at a bounded interval; once a changed pair has held still for two polls and is
//     a valid pair (read as chronyd's user, which this process is by then), it asks for a
//     restart of chronyd. A pair that is not valid leaves the running chronyd alone and is
//     logged as an error, once per content.
//   - The NTS cookie keys of the server that generates them (NTS_KEYS_FROM): chrony.conf(5)'s
//     ntsrotate 0 servers reload ntsdumpdir/ntskeys at `chronyc rekey`. KeySync copies the
//     generating server's file into STATE_DIR when it changes and sends chronyd `rekey`.
//
// Polling (stat would miss a rewrite in place; the contents' hash does not) follows no file a
// compromised chronyd could plant to gain anything: this process runs as chronyd's user, and
// opens without blocking on a FIFO.
package ntswatch
