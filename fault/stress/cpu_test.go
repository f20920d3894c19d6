package stress_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault/stress"
)

// TestCPULoad measures the workers' CPU time from /proc/PID/stat. The
// bounds are loose: the machine may have two cores shared with other
// builds.
func TestCPULoad(t *testing.T) {
	const window = 2 * time.Second
	for _, c := range []struct {
		name     string
		workers  int
		load     experiment.Percent
		min, max float64 // cores
	}{
		{"one worker at 50%", 1, 50, 0.3, 0.7},
		{"one worker at 100%", 1, 100, 0.7, 1.15},
		{"two workers at 25%", 2, 25, 0.3, 0.7},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := newRecord(t, "stress.cpu", &stress.CPUParams{Workers: c.workers, Load: c.load}, time.Minute)
			inject(t, rec)
			pids := workerPIDs(t, rec.ID, c.workers)
			sum := func() float64 {
				var s float64
				for _, pid := range pids {
					s += cpuSeconds(t, pid)
				}
				return s
			}
			cpu0, t0 := sum(), time.Now()
			time.Sleep(window)
			cores := (sum() - cpu0) / time.Since(t0).Seconds()
			t.Logf("%d worker(s) at %v%%: %.2f cores", c.workers, float64(c.load), cores)
			if cores < c.min || cores > c.max {
				t.Errorf("workers used %.2f cores, want %.2f to %.2f", cores, c.min, c.max)
			}
			recoverRec(t, context.Background(), rec)
			noWorkers(t, rec.ID)
		})
	}
}
