package stress_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/stress"
)

func TestMemoryResident(t *testing.T) {
	const size = 64 << 20
	rec := newRecord(t, "stress.memory", &stress.MemoryParams{Size: size}, time.Minute)
	inject(t, rec)
	pid := workerPIDs(t, rec.ID, 1)[0]
	// Without a ramp, Inject returns once every page is resident.
	rss := statusKB(t, pid, "VmRSS")
	t.Logf("worker VmRSS %s for size %s", mib(rss), mib(size))
	if rss < size*9/10 {
		t.Errorf("worker VmRSS is %v, want at least 90%% of %v", experiment.Size(rss), experiment.Size(size))
	}
	recoverRec(t, context.Background(), rec)
	noWorkers(t, rec.ID)
}

func TestMemoryRamp(t *testing.T) {
	const size, ramp = 128 << 20, 2 * time.Second
	rec := newRecord(t, "stress.memory", &stress.MemoryParams{Size: size, Ramp: experiment.Duration(ramp)}, time.Minute)
	inject(t, rec)
	start := time.Now()
	pid := workerPIDs(t, rec.ID, 1)[0]
	// With a ramp, Inject returns once the worker has started: what it
	// holds then is the Go runtime's own.
	base := statusKB(t, pid, "VmRSS")
	if base > size/4 {
		t.Fatalf("worker VmRSS is %s right after Inject, want it to grow over %v", mib(base), ramp)
	}
	time.Sleep(ramp/2 - time.Since(start))
	half := statusKB(t, pid, "VmRSS") - base
	var grown int64
	eventually(t, ramp+5*time.Second, "VmRSS grows by 90% of size", func() bool {
		grown = statusKB(t, pid, "VmRSS") - base
		return grown >= size*9/10
	})
	took := time.Since(start)
	t.Logf("VmRSS grew %s by half the ramp, %s after %v (ramp %v, size %s, runtime %s)",
		mib(half), mib(grown), took.Round(time.Millisecond), ramp, mib(size), mib(base))
	if half < size/4 || half > size*3/4 {
		t.Errorf("VmRSS grew %s by half the ramp, want about half of %s", mib(half), mib(size))
	}
	if took < ramp*8/10 {
		t.Errorf("90%% of size reached after %v, before 80%% of the ramp %v", took, ramp)
	}
	recoverRec(t, context.Background(), rec)
	noWorkers(t, rec.ID)
}

func TestMemoryPreflightRefusesTooMuch(t *testing.T) {
	total := procKV(t, "/proc/meminfo")["MemTotal"] << 10
	k, _ := fault.Lookup("stress.memory")

	rec := newRecord(t, "stress.memory", &stress.MemoryParams{Size: experiment.Size(total)}, 0)
	err := k.Preflight(context.Background(), rec)
	if err == nil || !strings.Contains(err.Error(), "force: true") {
		t.Errorf("Preflight of all the memory = %v, want a refusal naming force: true", err)
	}
	// Inject checks again, and starts nothing.
	if err := k.Inject(context.Background(), rec); err == nil {
		t.Error("Inject of all the memory succeeded")
	}
	noWorkers(t, rec.ID)

	rec = newRecord(t, "stress.memory", &stress.MemoryParams{Size: experiment.Size(total), Force: true}, 0)
	if err := k.Preflight(context.Background(), rec); err != nil {
		t.Errorf("Preflight with force: %v", err)
	}
}

// TestMemoryWorkerIsFirstOOMVictim: should the host run out, the worker
// goes before any service.
func TestMemoryWorkerIsFirstOOMVictim(t *testing.T) {
	rec := newRecord(t, "stress.memory", &stress.MemoryParams{Size: 1 << 20}, time.Minute)
	inject(t, rec)
	pid := workerPIDs(t, rec.ID, 1)[0]
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "1000" {
		t.Errorf("worker oom_score_adj = %s, want 1000", got)
	}
}
