package health

import (
	"context"
	"time"

	"github.com/chris-short/chrony/pkg/chrony"
)

// Prober asks a chronyd on its command socket, one fresh connection per question, so probes
// from `entrypoint probe`, the HTTP server and Kubernetes can run at the same time.
type Prober struct {
	// Socket is chronyd's command socket; ClientDir is where client sockets are bound (each
	// in its own private directory, removed afterwards).
	Socket, ClientDir string
	// Timeout bounds one probe, connection included, when ctx has no earlier deadline.
	Timeout time.Duration
	// Thresholds are used by Ready.
	Thresholds Thresholds
	// ServingFile and PIDFile, when set, make Ready check that chronyd holds the ports it
	// must serve (serving.go).
	ServingFile, PIDFile string
}

// Live dials chronyd and reports Live.
func (p Prober) Live(ctx context.Context) Result {
	return p.ask(ctx, func(ctx context.Context, c chrony.Communicator) Result { return Live(ctx, c) })
}

// Ready dials chronyd and reports Ready with p.Thresholds.
func (p Prober) Ready(ctx context.Context) Result {
	if r := p.checkServing(); !r.OK {
		return r
	}
	return p.ask(ctx, func(ctx context.Context, c chrony.Communicator) Result { return Ready(ctx, c, p.Thresholds) })
}

// ReadyOn is Ready's judgement on a connection the caller holds (the metrics collector's):
// the same checks, in the same order, without dialling.
func (p Prober) ReadyOn(ctx context.Context, c chrony.Communicator) Result {
	if r := p.checkServing(); !r.OK {
		return r
	}
	return Ready(ctx, c, p.Thresholds)
}

func (p Prober) ask(ctx context.Context, judge func(context.Context, chrony.Communicator) Result) Result {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = chrony.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := chrony.Dial(ctx, p.Socket, p.ClientDir)
	if err != nil {
		return failed(err)
	}
	defer c.Close()
	return judge(ctx, c)
}
