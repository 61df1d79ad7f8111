package health

import (
	"context"
	"fmt"
	"strings"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"

	"github.com/chris-short/chrony/pkg/chrony"
)

// Communicator is what the judgement needs of a chronyd connection: one request, one reply.
// *chrony.Client implements it.
type Communicator interface {
	Communicate(ctx context.Context, req fbchrony.RequestPacket) (fbchrony.ResponsePacket, error)
}

// Result is a probe's answer.
type Result struct {
	// OK is true when chronyd is live (Live) or ready (Ready).
	OK bool
	// Reason is one line: stratum, source, offset and root distance, or what is missing.
	Reason string
	// Err is set when chronyd could not be asked or did not answer, as opposed to answering
	// "not ready": probes exit 2 rather than 1 for it.
	Err error
}

// Thresholds say when a synchronised chronyd counts as ready.
type Thresholds struct {
	// MaxDistance is the largest root distance (root delay/2 + root dispersion) accepted;
	// zero or less means DefaultMaxDistance.
	MaxDistance time.Duration
	// AllowLocal counts a `local stratum` reference as ready: a server that must answer
	// clients even when every upstream is gone.
	AllowLocal bool
}

// DefaultMaxDistance is used when Thresholds.MaxDistance is not set: a third of chrony's own
// maxdistance (3 s), far above what a working network source shows (milliseconds).
const DefaultMaxDistance = time.Second

// leapUnsynchronised is chronyd's LEAP_Unsynchronised.
const leapUnsynchronised = 3

// Reference IDs chronyd reports when it serves its own clock (`local` directive, or a LOCL
// reference clock) rather than a source's time.
const (
	refIDLocal = 0x7F7F0101 // 127.127.1.1
	refIDLOCL  = 0x4C4F434C // "LOCL"
)

// Live reports whether chronyd answers a tracking request before ctx's deadline.
func Live(ctx context.Context, c Communicator) Result {
	tr, err := chrony.Tracking(ctx, c)
	if err != nil {
		return Result{Reason: "chronyd does not answer: " + oneLine(err), Err: err}
	}
	return Result{OK: true, Reason: fmt.Sprintf("chronyd answers: stratum %d, leap status %s", tr.Stratum, leapName(tr.LeapStatus))}
}

// Ready reports whether chronyd serves trustworthy time: leap status not unsynchronised, a
// selected source (`*` in chronyc sources) that is reachable, and a root distance under
// th.MaxDistance. A local reference counts only when th.AllowLocal.
func Ready(ctx context.Context, c Communicator, th Thresholds) Result {
	maxDist := th.MaxDistance
	if maxDist <= 0 {
		maxDist = DefaultMaxDistance
	}
	tr, err := chrony.Tracking(ctx, c)
	if err != nil {
		return Result{Reason: "cannot ask chronyd: " + oneLine(err), Err: err}
	}
	dist := tr.RootDelay/2 + tr.RootDispersion
	local := tr.RefID == refIDLocal || tr.RefID == refIDLOCL

	if tr.LeapStatus == leapUnsynchronised {
		srcs, err := chrony.Sources(ctx, c)
		if err != nil {
			return Result{Reason: "not synchronised; cannot list sources: " + oneLine(err), Err: err}
		}
		return Result{Reason: "not synchronised (leap status unsynchronised): " + describeSources(srcs)}
	}
	if local {
		if !th.AllowLocal {
			return Result{Reason: fmt.Sprintf("serving the local clock (stratum %d, reference %s), no NTP source selected; local reference not allowed", tr.Stratum, chrony.RefIDName(tr.RefID))}
		}
		if d := seconds(dist); d >= maxDist {
			return Result{Reason: fmt.Sprintf("serving the local clock (stratum %d): root distance %s over %s", tr.Stratum, d, maxDist)}
		}
		return Result{OK: true, Reason: fmt.Sprintf("serving the local clock (allowed): stratum %d, reference %s, root distance %s", tr.Stratum, chrony.RefIDName(tr.RefID), seconds(dist))}
	}

	sel, srcs, err := selectedSource(ctx, c)
	if err != nil {
		return Result{Reason: "cannot list sources: " + oneLine(err), Err: err}
	}
	if sel == nil {
		return Result{Reason: fmt.Sprintf("no selected source (stratum %d): %s", tr.Stratum, describeSources(srcs))}
	}
	source := chrony.SourceName(sel)
	if sel.Reachability&0xff == 0 {
		// The selected source just went unreachable. chronyd reselects at its next sample from
		// another source (within one poll); until then the clock is as good as it was, so a
		// reachable candidate to move to keeps it ready rather than flapping a Service endpoint.
		all, err := chrony.Sources(ctx, c)
		if err != nil {
			return Result{Reason: "cannot list sources: " + oneLine(err), Err: err}
		}
		next := reachableCandidate(all)
		if next == nil {
			return Result{Reason: fmt.Sprintf("selected source %s is unreachable (reach 000, last sample %ds ago) and no other source is a reachable candidate: %s",
				source, sel.SinceSample, describeSources(all))}
		}
		source = fmt.Sprintf("%s (unreachable; reselecting, candidate %s)", source, chrony.SourceName(next))
	}
	if d := seconds(dist); d >= maxDist {
		return Result{Reason: fmt.Sprintf("stratum %d, source %s: root distance %s over %s", tr.Stratum, source, d, maxDist)}
	}
	return Result{OK: true, Reason: fmt.Sprintf("synchronised: stratum %d, source %s, offset %s, root distance %s",
		tr.Stratum, source, signed(tr.CurrentCorrection), seconds(dist))}
}

// reachableCandidate is a source chronyd could select next: reachable, and selectable whether
// combined (candidate, `+`) or not (outlier, `-`).
func reachableCandidate(srcs []fbchrony.SourceData) *fbchrony.SourceData {
	for i := range srcs {
		st := srcs[i].State
		if (st == fbchrony.SourceStateCandidate || st == fbchrony.SourceStateOutlier) && srcs[i].Reachability&0xff != 0 {
			return &srcs[i]
		}
	}
	return nil
}

// selectedSource asks for sources in chronyd's order and stops at the selected one (state
// sync): a probe runs every few seconds, and a synchronised chronyd then costs one request
// fewer per source listed after it. With none selected, srcs holds every source, to say why.
func selectedSource(ctx context.Context, c Communicator) (sel *fbchrony.SourceData, srcs []fbchrony.SourceData, err error) {
	n, err := chrony.NSources(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	srcs = make([]fbchrony.SourceData, 0, n)
	for i := range n {
		s, err := chrony.SourceData(ctx, c, i)
		if err != nil {
			return nil, nil, err
		}
		if s.State == fbchrony.SourceStateSync {
			return s, nil, nil
		}
		srcs = append(srcs, *s)
	}
	return nil, srcs, nil
}

// describeSources says in a few words what each source is doing (at most 4 listed).
func describeSources(srcs []fbchrony.SourceData) string {
	if len(srcs) == 0 {
		return "no sources"
	}
	const max = 4
	parts := make([]string, 0, max+1)
	for i, s := range srcs {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(srcs)-max))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s reach %03o", chrony.SourceName(&s), s.State, s.Reachability&0xff))
	}
	return fmt.Sprintf("%d source(s): %s", len(srcs), strings.Join(parts, ", "))
}

func leapName(l uint16) string {
	switch l {
	case 0:
		return "normal"
	case 1:
		return "insert second"
	case 2:
		return "delete second"
	case 3:
		return "unsynchronised"
	}
	return fmt.Sprintf("unknown (%d)", l)
}

// seconds turns chrony's float seconds into a Duration (for printing and comparing).
func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func signed(f float64) string {
	d := seconds(f)
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

// oneLine keeps a Reason on one line whatever an error says.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
