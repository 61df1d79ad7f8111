package syncwatch

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
)

// BenchmarkPollCost: what one poll costs, on a real chronyd -x synchronised to a loopback
// upstream: CPU of this process (the entrypoint's side) and of chronyd per poll, and both per
// hour at DefaultInterval. Run with -benchtime 2000x: CPU comes in 10 ms ticks.
//
//	go test ./pkg/syncwatch -run '^$' -bench PollCost -benchtime 2000x
func BenchmarkPollCost(b *testing.B) {
	up := chronytest.StartUpstream(b)
	in := chronytest.Start(b, chronytest.Options{Lines: []string{up.ServerLine()}})
	w := newWatcher(Options{Dial: DialSocket(in.Socket, chronytest.ShortTempDir(b))})
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for w.poll(ctx); !w.synced; w.poll(ctx) {
		if time.Now().After(deadline) {
			b.Fatalf("chronyd not synchronised within 30 s:\n%s", in.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	self0, chronyd0 := selfCPU(b), procCPU(b, in.PID())
	b.ResetTimer()
	for range b.N {
		w.poll(ctx)
	}
	b.StopTimer()
	self := (selfCPU(b) - self0) / time.Duration(b.N)
	chronyd := (procCPU(b, in.PID()) - chronyd0) / time.Duration(b.N)
	perHour := float64(time.Hour / DefaultInterval)
	b.ReportMetric(float64(self.Microseconds()), "cpu-us/poll")
	b.ReportMetric(float64(chronyd.Microseconds()), "chronyd-cpu-us/poll")
	b.ReportMetric(perHour*self.Seconds(), "cpu-s/hour")
	b.ReportMetric(perHour*chronyd.Seconds(), "chronyd-cpu-s/hour")
}

// selfCPU is this process's user and system CPU.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is utime+stime of pid from /proc (10 ms ticks).
func procCPU(b *testing.B, pid int) time.Duration {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(s[strings.LastIndexByte(string(s), ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(u+st) * 10 * time.Millisecond
}
