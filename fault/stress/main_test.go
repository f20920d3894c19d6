package stress_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/faulttest"
	"github.com/faultline-dev/faultline/fault/stress"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/target"
)

// envLaunch makes the test binary act as a faultline that injects the
// record in the variable (JSON), says "injected" and waits to be killed.
const envLaunch = "STRESS_TEST_LAUNCH"

func TestMain(m *testing.M) {
	stress.RunWorkerIfRequested()
	if rec := os.Getenv(envLaunch); rec != "" {
		os.Exit(launch(rec))
	}
	os.Exit(m.Run())
}

func launch(raw string) int {
	var rec fault.Record
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	k, _ := fault.Lookup(rec.Kind)
	if err := k.Inject(context.Background(), &rec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("injected")
	time.Sleep(30 * time.Second) // killed long before, by the test

	return 0
}

// newRecord builds a record as the engine does, with a duration.
func newRecord(t *testing.T, kind string, params any, d time.Duration) *fault.Record {
	t.Helper()
	rec := faulttest.NewRecord(t, kind, params, target.LocalHost())
	rec.Duration = experiment.Duration(d)
	return rec
}

// inject runs Preflight and Inject, and recovers when the test ends.
func inject(t *testing.T, rec *fault.Record) fault.Kind {
	t.Helper()
	k, ok := fault.Lookup(rec.Kind)
	if !ok {
		t.Fatalf("kind %s is not registered", rec.Kind)
	}
	if err := k.Preflight(context.Background(), rec); err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	t.Cleanup(func() {
		cp := *rec
		if err := k.Recover(context.Background(), &cp); err != nil {
			t.Errorf("cleanup Recover: %v", err)
		}
	})
	if err := k.Inject(context.Background(), rec); err != nil {
		t.Fatalf("Inject: %v", err)
	}
	return k
}

func recoverRec(t *testing.T, ctx context.Context, rec *fault.Record) {
	t.Helper()
	k, _ := fault.Lookup(rec.Kind)
	if err := k.Recover(ctx, rec); err != nil {
		t.Fatalf("Recover: %v", err)
	}
}

// workers lists the live processes tagged with the fault's id.
func workers(t *testing.T, id string) []procfs.Stat {
	t.Helper()
	ps, err := procfs.FindByEnv(fault.TagEnv, id)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// workerPIDs lists the workers of id, failing the test when there are not
// want of them.
func workerPIDs(t *testing.T, id string, want int) []int {
	t.Helper()
	ps := workers(t, id)
	if len(ps) != want {
		t.Fatalf("fault %s has %d workers running, want %d", id, len(ps), want)
	}
	pids := make([]int, len(ps))
	for i, p := range ps {
		pids[i] = p.PID
	}
	return pids
}

// noWorkers fails unless no process is tagged with id (after Recover, which
// waits for them, so there is no waiting here).
func noWorkers(t *testing.T, id string) {
	t.Helper()
	if ps := workers(t, id); len(ps) != 0 {
		t.Fatalf("fault %s still has workers after recovery: %+v", id, ps)
	}
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpuSeconds is the CPU time (user+system) of pid so far, assuming the
// usual USER_HZ of 100.
func cpuSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	return float64(utime+stime) / 100
}

// statusKB reads a kB line (VmRSS, say) of /proc/PID/status, in bytes.
func statusKB(t *testing.T, pid int, key string) int64 {
	t.Helper()
	return procKV(t, fmt.Sprintf("/proc/%d/status", pid))[key] << 10
}

// procKV reads a "key: number [kB]" file of /proc.
func procKV(t *testing.T, path string) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kv := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if f := strings.Fields(v); ok && len(f) > 0 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				kv[k] = n
			}
		}
	}
	return kv
}

// decoys makes files in dir that recovery must leave alone.
func decoys(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func decoysKept(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("recovery removed %s, which is not its own: %v", n, err)
		}
	}
}

// equalJSON compares two values by their JSON.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

// mib formats bytes for logs.
func mib(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }
