package stress_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/fault/faulttest"
	"github.com/faultline-dev/faultline/fault/stress"
)

// TestRecoverAfterCrash recovers, as a new faultline process would, from
// the record read back from JSON without the state Inject wrote (faultline
// was killed between spawning the workers and updating the ledger): the
// workers are found by their tag, the files by their names.
func TestRecoverAfterCrash(t *testing.T) {
	dir := t.TempDir()
	decoys(t, dir, "keep.txt")
	for _, c := range []struct {
		kind    string
		params  any
		workers int
	}{
		{"stress.cpu", &stress.CPUParams{Workers: 2, Load: 20}, 2},
		{"stress.memory", &stress.MemoryParams{Size: 16 << 20}, 1},
		{"stress.io", &stress.IOParams{Path: dir, Workers: 2, Mode: "write", BlockSize: 64 << 10, FileSize: 1 << 20}, 2},
		{"stress.disk", &stress.DiskParams{Path: dir, Size: 4 << 20}, 0},
	} {
		t.Run(c.kind, func(t *testing.T) {
			rec := newRecord(t, c.kind, c.params, time.Minute)
			inject(t, rec)
			workerPIDs(t, rec.ID, c.workers)
			if len(rec.State) == 0 {
				t.Fatal("Inject wrote no state")
			}
			files, _ := filepath.Glob(filepath.Join(dir, ".faultline-*"+rec.ID+"*"))
			if c.kind == "stress.disk" || c.kind == "stress.io" {
				if len(files) == 0 {
					t.Fatal("Inject made no file")
				}
			}

			fresh := faulttest.RoundTrip(t, rec)
			fresh.State = nil
			recoverRec(t, context.Background(), fresh)
			noWorkers(t, rec.ID)
			for _, f := range files {
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					t.Errorf("%s still there after Recover: %v", f, err)
				}
			}
			decoysKept(t, dir, "keep.txt")
		})
	}
}

// TestWorkersDieWithFaultline kills, with SIGKILL, a process that injected
// a fault (the test binary acting as faultline): its workers notice they
// were re-parented and stop by themselves, and an io worker removes its
// file as it goes.
func TestWorkersDieWithFaultline(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		kind   string
		params any
	}{
		{"stress.cpu", &stress.CPUParams{Workers: 1, Load: 100}},
		{"stress.io", &stress.IOParams{Path: dir, Workers: 1, Mode: "readwrite", BlockSize: 64 << 10, FileSize: 1 << 20}},
	} {
		t.Run(c.kind, func(t *testing.T) {
			rec := newRecord(t, c.kind, c.params, 0) // no duration: no deadline soon
			b, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), envLaunch+"="+string(b))
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				recoverRec(t, context.Background(), rec)
			})
			said := make(chan string, 1)
			go func() {
				line, _ := bufio.NewReader(out).ReadString('\n')
				said <- strings.TrimSpace(line)
			}()
			select {
			case line := <-said:
				if line != "injected" {
					t.Fatalf("the injecting process said %q", line)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the injecting process did not inject within 15s")
			}
			workerPIDs(t, rec.ID, 1)
			files, _ := filepath.Glob(filepath.Join(dir, ".faultline-io-"+rec.ID+"-*"))

			killed := time.Now()
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "workers stop after their parent died", func() bool {
				return len(workers(t, rec.ID)) == 0
			})
			t.Logf("workers gone %v after their parent was killed", time.Since(killed).Round(time.Millisecond))
			for _, f := range files {
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					t.Errorf("the io worker left %s behind: %v", f, err)
				}
			}
		})
	}
}

// TestWorkerWithoutExplicitCall starts, as a worker, a binary that links
// the package but never calls RunWorkerIfRequested: the package's init
// runs the worker, and the binary's main never runs (it would be faultline
// starting over in every worker).
func TestWorkerWithoutExplicitCall(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the test binary")
	}
	bin := filepath.Join(t.TempDir(), "linked")
	if out, err := exec.Command(gobin, "build", "-o", bin, "./testdata/linked").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	args := fmt.Sprintf(`{"parent":%d,"deadline":%q,"load":0.1}`, os.Getpid(), time.Now().Add(300*time.Millisecond).Format(time.RFC3339Nano))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "FAULTLINE_STRESS_WORKER=cpu", "FAULTLINE_STRESS_ARGS="+args)
	out, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatal("the worker did not stop within 10s of its deadline")
	}
	if err != nil || string(out) != "ready\n" {
		t.Errorf("the binary said %q (%v), want only the worker's ready", out, err)
	}
}
