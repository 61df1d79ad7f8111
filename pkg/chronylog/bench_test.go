package chronylog

import (
	"runtime"
	"testing"
)

// BenchmarkLevelOf: the cost of classifying one chronyd line (the test lines in turn, most of
// them info lines that no pattern matches, as in a running container), and the heap the
// compiled table keeps alive in PID 1 for as long as it runs (retained-B).
func BenchmarkLevelOf(b *testing.B) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	table := compileSeverities(severities)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	retained := float64(ms.HeapAlloc) - float64(before)
	runtime.KeepAlive(table)
	msgs := make([]string, len(lines))
	for i, l := range lines {
		msgs[i] = Parse(l.line).Message
	}
	matcher()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		levelOf(msgs[i%len(msgs)])
	}
	b.ReportMetric(retained, "retained-B")
}
