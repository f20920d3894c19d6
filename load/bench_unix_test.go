//go:build unix

package load

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkClosed runs the closed model, 32 workers, for a second per
// iteration against the canned server in the same process, and reports
// the rate and the process's CPU time per request (user and system, the
// client's and the server's both: the server's share is small and
// constant, so differences are the client's). With several targets each
// has figures of its own.
func BenchmarkClosed(b *testing.B) {
	url := cannedServer(b)
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			targets := make([]Target, n)
			for i := range targets {
				targets[i] = Target{URL: fmt.Sprintf("%s%d", url, i)}
			}
			var requests int64
			var wall, cpu time.Duration
			for b.Loop() {
				g, err := New(Config{Targets: targets, Concurrency: 32, Duration: time.Second})
				if err != nil {
					b.Fatal(err)
				}
				cpu0, wall0 := cpuTime(b), time.Now()
				st := g.Run(context.Background())
				cpu += cpuTime(b) - cpu0
				wall += time.Since(wall0)
				if st.ErrorCount() > 0 {
					b.Fatal(st.Describe())
				}
				requests += st.Requests
			}
			b.ReportMetric(float64(requests)/wall.Seconds(), "req/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(requests), "cpu-ns/req")
			b.ReportMetric(0, "ns/op") // removes it: an iteration lasts a second by design
		})
	}
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
