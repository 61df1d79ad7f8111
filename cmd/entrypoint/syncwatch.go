package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/rundir"
	"github.com/chris-short/chrony/pkg/syncwatch"
)

// syncWatch logs chronyd's sync-state changes while it runs (see pkg/syncwatch).
type syncWatch struct{ w *syncwatch.Watcher }

// start begins polling once chronyd runs and the entrypoint holds no capability: the client
// sockets it binds in RUN_DIR belong to the chrony user, like the probes'.
func (sw *syncWatch) start(ctx context.Context, paths rundir.Layout, log *zap.Logger) {
	sw.w = syncwatch.Start(ctx, syncwatch.Options{
		Dial:   syncwatch.DialSocket(paths.Socket(), paths.ClientDir()),
		Logger: log.Named("sync"),
	})
}

// wait returns once the watcher has stopped (at most one poll's deadline after ctx ends).
func (sw *syncWatch) wait() {
	if sw.w != nil {
		sw.w.Wait()
	}
}
