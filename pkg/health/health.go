package health

import (
	"context"
	"fmt"
	"strings"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"

	"github.com/chris-short/chrony/pkg/chrony"
)

// Result is a probe's answer.
type Result struct {
	// OK is true when chronyd is live (Live) or ready (Ready).
	OK bool
	// Reason is one line: stratum, source, offset and root distance, or what is missing and
	// the variable that would change it.
	Reason string
	// Code says the same as Reason as one of a fixed set of words (Code* constants), for a
	// metric's label.
	Code Code
	// Source is the selected source (as SourceName shows it) when Ready is OK because chronyd
	// follows a source; empty otherwise, also when OK because it serves the local clock.
	Source string
	// Err is set when chronyd could not be asked or did not answer, as opposed to answering
	// "not ready": probes exit 2 rather than 1 for it. Reason is then the error, on one line.
	Err error
}

// Thresholds say when a synchronised chronyd counts as ready.
type Thresholds struct {
	// MaxDistance is the largest root distance (root delay/2 + root dispersion) accepted;
	// zero or less means DefaultMaxDistance.
	MaxDistance time.Duration
	// AllowLocal counts a `local stratum` reference as ready even when chronyd has sources
	// that could give it time: a server that must answer clients when every upstream is gone.
	// Without any such source (offline mode) the local clock is ready regardless.
	AllowLocal bool
}

// DefaultMaxDistance is used when Thresholds.MaxDistance is not set: a third of chrony's own
// maxdistance (3 s), far above what a working network source shows (milliseconds).
const DefaultMaxDistance = time.Second

// The variables a reason names, so that the line says what to change.
const (
	sourceVars      = "NTP_SERVERS/NTP_POOLS"
	allowLocalVar   = "READY_ALLOW_LOCAL"
	allowLocalHint  = "READY_ALLOW_LOCAL=true counts this as ready"
	unresolvedHint  = "no DNS, or a typo in " + sourceVars
	unreachableHint = "check " + sourceVars + " and that NTP packets can leave the container"
)

// leapUnsynchronised is chronyd's LEAP_Unsynchronised.
const leapUnsynchronised = 3

// Reference IDs chronyd reports when it serves its own clock (`local` directive, or a LOCL
// reference clock) rather than a source's time.
const (
	refIDLocal = 0x7F7F0101 // 127.127.1.1
	refIDLOCL  = 0x4C4F434C // "LOCL"
)

// Live reports whether chronyd answers a tracking request before ctx's deadline.
func Live(ctx context.Context, c chrony.Communicator) Result {
	tr, err := chrony.Tracking(ctx, c)
	if err != nil {
		return failed(err)
	}
	return Result{OK: true, Code: CodeAnswers, Reason: fmt.Sprintf("chronyd answers: stratum %d, leap status %s", tr.Stratum, leapName(tr.LeapStatus))}
}

// Ready reports whether chronyd serves trustworthy time: leap status not unsynchronised, a
// selected source (`*` in chronyc sources) that is reachable, and a root distance under
// th.MaxDistance. The local clock (`local stratum`) counts when chronyd has no source that
// could give it time (offline mode: no sources, or only ntpd's 127.127.x.x pseudo-addresses,
// which in chrony are ordinary addresses that never answer with time) or when th.AllowLocal.
func Ready(ctx context.Context, c chrony.Communicator, th Thresholds) Result {
	maxDist := th.MaxDistance
	if maxDist <= 0 {
		maxDist = DefaultMaxDistance
	}
	tr, err := chrony.Tracking(ctx, c)
	if err != nil {
		return failed(err)
	}
	dist := seconds(tr.RootDelay/2 + tr.RootDispersion)
	overMax := fmt.Sprintf("root distance %s over READY_MAX_DISTANCE=%s", dist, maxDist)
	local := tr.RefID == refIDLocal || tr.RefID == refIDLOCL

	if tr.LeapStatus == leapUnsynchronised || local {
		srcs, unres, err := allSources(ctx, c)
		if err != nil {
			return failed(err)
		}
		if !local {
			return Result{Code: CodeUnsynchronised, Reason: "not synchronised: " + whySources(srcs, unres)}
		}
		switch {
		case !hasTimeSource(srcs) && unres.Count == 0 && dist >= maxDist:
			return Result{Code: CodeRootDistance, Reason: fmt.Sprintf("serving the local clock (stratum %d, no network source configured): %s", tr.Stratum, overMax)}
		case !hasTimeSource(srcs) && unres.Count == 0:
			return Result{OK: true, Code: CodeLocal, Reason: fmt.Sprintf("serving the local clock as configured (no network source): stratum %d, root distance %s", tr.Stratum, dist)}
		case !th.AllowLocal:
			return Result{Code: CodeLocalNotAllowed, Reason: fmt.Sprintf("serving the local clock (stratum %d), no source selected: %s; %s", tr.Stratum, whySources(srcs, unres), allowLocalHint)}
		case dist >= maxDist:
			return Result{Code: CodeRootDistance, Reason: fmt.Sprintf("serving the local clock (stratum %d, %s=true): %s", tr.Stratum, allowLocalVar, overMax)}
		}
		return Result{OK: true, Code: CodeLocal, Reason: fmt.Sprintf("serving the local clock (%s=true): stratum %d, reference %s, root distance %s", allowLocalVar, tr.Stratum, fbchrony.RefidToString(tr.RefID), dist)}
	}

	sel, srcs, err := selectedSource(ctx, c)
	if err != nil {
		return failed(err)
	}
	if sel == nil {
		unres, err := unresolvedIn(ctx, c, srcs)
		if err != nil {
			return failed(err)
		}
		return Result{Code: CodeNoSelectedSource, Reason: fmt.Sprintf("no selected source (stratum %d): %s", tr.Stratum, whySources(srcs, unres))}
	}
	source := chrony.SourceName(sel)
	shown := source
	if sel.Reachability&0xff == 0 {
		// The selected source went unreachable. chronyd 4.3 keeps it selected until its
		// distance, growing with the age of its last sample, exceeds another's by reselectdist
		// (100 us: seconds to minutes, depending on maxclockerror and the skew it measured);
		// until then the clock is as good as that sample, so a reachable candidate to move to
		// keeps it ready rather than flapping a Service endpoint.
		all, unres, err := allSources(ctx, c)
		if err != nil {
			return failed(err)
		}
		next := reachableCandidate(all)
		if next == nil {
			return Result{Code: CodeSourceUnreachable, Reason: fmt.Sprintf("selected source %s is unreachable (reach 000, last sample %ds ago), no other reachable candidate: %s",
				source, sel.SinceSample, whySources(all, unres))}
		}
		shown = fmt.Sprintf("%s (unreachable; reselecting, candidate %s)", source, chrony.SourceName(next))
	}
	if dist >= maxDist {
		return Result{Code: CodeRootDistance, Reason: fmt.Sprintf("stratum %d, source %s: %s", tr.Stratum, shown, overMax)}
	}
	return Result{OK: true, Code: CodeSynchronised, Source: source, Reason: fmt.Sprintf("synchronised: stratum %d, source %s, offset %s, root distance %s",
		tr.Stratum, shown, signed(tr.CurrentCorrection), dist)}
}

// failed is the Result of a request that got no usable answer: the error says which request.
func failed(err error) Result { return Result{Code: CodeNoAnswer, Reason: oneLine(err), Err: err} }

// Unresolved is what chronyd says of the sources it has no address for: host names not
// resolved yet (no DNS, or a typo), which chronyc's `sources` leaves out.
type Unresolved struct {
	// Count is chronyd's `activity` count: a pool counts once per source it would add.
	Count int
	// Names are the host names, each once, in chronyd's order; empty when chronyd cannot say
	// (before 4.1, no `sourcename` request).
	Names []string
}

// UnresolvedSources asks chronyd which sources have no address.
func UnresolvedSources(ctx context.Context, c chrony.Communicator) (Unresolved, error) {
	act, err := chrony.Activity(ctx, c)
	if err != nil || act.Unresolved == 0 {
		return Unresolved{}, err
	}
	srcs, err := chrony.Sources(ctx, c)
	if err != nil {
		return Unresolved{}, err
	}
	return Unresolved{Count: int(act.Unresolved), Names: unresolvedNames(ctx, c, srcs)}, nil
}

// allSources lists every source and what chronyd says of those without an address.
func allSources(ctx context.Context, c chrony.Communicator) ([]fbchrony.SourceData, Unresolved, error) {
	srcs, err := chrony.Sources(ctx, c)
	if err != nil {
		return nil, Unresolved{}, err
	}
	unres, err := unresolvedIn(ctx, c, srcs)
	return srcs, unres, err
}

// unresolvedIn asks for the activity count and, when it is not zero, the names of the
// placeholder sources among srcs (the whole list).
func unresolvedIn(ctx context.Context, c chrony.Communicator, srcs []fbchrony.SourceData) (Unresolved, error) {
	act, err := chrony.Activity(ctx, c)
	if err != nil || act.Unresolved == 0 {
		return Unresolved{}, err
	}
	return Unresolved{Count: int(act.Unresolved), Names: unresolvedNames(ctx, c, srcs)}, nil
}

// unresolvedNames asks for the name of each placeholder source (family IPAddrID, "ID#<n>"),
// each name once. A failed request leaves the names out: the count still says it.
func unresolvedNames(ctx context.Context, c chrony.Communicator, srcs []fbchrony.SourceData) []string {
	var names []string
	seen := map[string]bool{}
	for i := range srcs {
		if !isPlaceholder(&srcs[i]) {
			continue
		}
		n, err := chrony.NTPSourceName(ctx, c, srcs[i].IPAddr)
		if err != nil {
			return nil
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return names
}

// isPlaceholder: chronyd 4.x lists a source whose name it has not resolved under an ID.
func isPlaceholder(s *fbchrony.SourceData) bool {
	return s.IPAddr != nil && s.IPAddr.Family == fbchrony.IPAddrID
}

// Describe says which host names are not resolved, in a few words (at most 4 named).
func (u Unresolved) Describe() string {
	if len(u.Names) == 0 {
		return fmt.Sprintf("%d host name(s) not resolved (%s)", u.Count, unresolvedHint)
	}
	shown := u.Names
	more := ""
	if len(shown) > 4 {
		shown, more = shown[:4], fmt.Sprintf(" and %d more", len(u.Names)-4)
	}
	return fmt.Sprintf("host name(s) not resolved: %s%s (%s)", strings.Join(shown, ", "), more, unresolvedHint)
}

// hasTimeSource reports whether any source could give chronyd time: an NTP source outside
// 127.127.0.0/16, or a reference clock other than LOCL. ntpd spells its reference clocks
// 127.127.t.u (its local clock driver is 127.127.1.1, which images made for ntpd document as
// "offline mode"); chrony polls such an address like any other, and nothing there serves time
// (at most chronyd itself, whose replies it rejects as a loop).
func hasTimeSource(srcs []fbchrony.SourceData) bool {
	for i := range srcs {
		if srcs[i].Mode == fbchrony.SourceModeRef {
			if chrony.SourceName(&srcs[i]) != "LOCL" {
				return true
			}
			continue
		}
		if ip := srcs[i].IPAddr.ToNetIP().To4(); ip == nil || ip[0] != 127 || ip[1] != 127 {
			return true
		}
	}
	return false
}

// whySources says what the sources are doing and, when a variable could change it, which.
func whySources(all []fbchrony.SourceData, unres Unresolved) string {
	// Placeholders for unresolved names are said in words by unres.
	srcs := make([]fbchrony.SourceData, 0, len(all))
	for i := range all {
		if !isPlaceholder(&all[i]) {
			srcs = append(srcs, all[i])
		}
	}
	if len(srcs) == 0 && unres.Count == 0 {
		return "no sources; set " + sourceVars
	}
	var parts []string
	if len(srcs) > 0 {
		parts = append(parts, describeSources(srcs))
	}
	if unres.Count > 0 {
		parts = append(parts, unres.Describe())
	} else if reachable(srcs) == 0 {
		parts = append(parts, "none reachable: "+unreachableHint)
	} else if hasFalseticker(srcs) {
		parts = append(parts, "they disagree: more sources in "+sourceVars+" let a majority outvote a falseticker")
	}
	return strings.Join(parts, "; ")
}

func hasFalseticker(srcs []fbchrony.SourceData) bool {
	for i := range srcs {
		if srcs[i].State == fbchrony.SourceStateFalseTicker {
			return true
		}
	}
	return false
}

func reachable(srcs []fbchrony.SourceData) int {
	n := 0
	for i := range srcs {
		if srcs[i].Reachability&0xff != 0 {
			n++
		}
	}
	return n
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
func selectedSource(ctx context.Context, c chrony.Communicator) (sel *fbchrony.SourceData, srcs []fbchrony.SourceData, err error) {
	_, err = chrony.EachSource(ctx, c, func(s *fbchrony.SourceData) bool {
		if s.State == fbchrony.SourceStateSync {
			sel = s
			return false
		}
		srcs = append(srcs, *s)
		return true
	})
	switch {
	case err != nil:
		return nil, nil, err
	case sel != nil:
		return sel, nil, nil
	}
	if srcs == nil {
		srcs = []fbchrony.SourceData{}
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
