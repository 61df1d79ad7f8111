package health

// Code is a Result's reason as one of a fixed set of words: a label value that stays
// enumerable, where Reason is a sentence for a log line or a probe's output.
type Code string

// The codes Live and Ready give.
const (
	CodeSynchronised      Code = "synchronised"       // ready: a reachable selected source within the root distance
	CodeLocal             Code = "local"              // ready: serving the local clock, allowed
	CodeAnswers           Code = "answers"            // live: chronyd answered
	CodeNoAnswer          Code = "no_answer"          // chronyd (or what it serves) could not be asked or did not answer
	CodeNotServing        Code = "port_not_held"      // chronyd does not hold the NTP or NTS-KE port it must serve
	CodeUnsynchronised    Code = "unsynchronised"     // leap status unsynchronised
	CodeLocalNotAllowed   Code = "local_not_allowed"  // serving the local clock, READY_ALLOW_LOCAL off
	CodeNoSelectedSource  Code = "no_selected_source" // no source marked `*`
	CodeSourceUnreachable Code = "source_unreachable" // the selected source is unreachable, no candidate
	CodeRootDistance      Code = "root_distance"      // root distance over READY_MAX_DISTANCE
)

// Codes lists every Code, so a consumer can check a label stays within them.
var Codes = []Code{CodeSynchronised, CodeLocal, CodeAnswers, CodeNoAnswer, CodeNotServing, CodeUnsynchronised,
	CodeLocalNotAllowed, CodeNoSelectedSource, CodeSourceUnreachable, CodeRootDistance}
