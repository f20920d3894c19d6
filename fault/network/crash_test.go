package network_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/fault/network/nft"
	"github.com/faultline-dev/faultline/ledger"
)

// faultlineBin builds the faultline binary for the crash test.
func faultlineBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "faultline")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/faultline")
	c.Dir = "../.."
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("build faultline: %v\n%s", err, out)
	}
	return bin
}

// TestRecoverAfterSIGKILL kills `faultline run` while a delay (nfqueue
// worker) and a partition (nft) are in place in namespace a, checks the
// worker stopped with its parent (so nothing stays queued to a dead
// reader), then `faultline recover` removes the rules, and connectivity
// and round-trip times are back to normal.
func TestRecoverAfterSIGKILL(t *testing.T) {
	l := newLab(t)
	bin := faultlineBin(t)
	udpEcho(t, l.nsB, l.addrB+":7")
	udpEcho(t, l.nsC, l.addrC+":7")
	toB := udpClient(t, l.nsA, l.addrB+":7")
	toC := udpClient(t, l.nsA, l.addrC+":7")
	base := median(rtts(t, toB, 30, time.Second))

	dir := t.TempDir()
	doc := fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: network-crash}
spec:
  method:
    - parallel:
        - name: slow link to b
          fault: network.delay
          target: {netns: {name: %s, interface: %s}}
          params: {latency: 50ms, backend: nfqueue}
          duration: 60s
        - name: cut c off
          fault: network.partition
          target: {netns: {name: %s, interface: %s}}
          params: {peers: [%s]}
          duration: 60s
`, l.a, l.aToB, l.a, l.aToC, l.addrC)
	if err := os.WriteFile(filepath.Join(dir, "x.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	led := filepath.Join(dir, "ledger.jsonl")
	env := append(os.Environ(), "FAULTLINE_LEDGER="+led, "NO_COLOR=1")
	run := exec.Command(bin, "run", "x.yaml")
	run.Dir, run.Env = dir, env
	var stderr strings.Builder
	run.Stderr = &stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill(); run.Wait() })
	waitInjected(t, led, 2, 20*time.Second, &stderr)

	if d := median(rtts(t, toB, 20, time.Second)) - base; d < 45*time.Millisecond {
		t.Fatalf("added RTT %v during the delay: the fault is not in place", d)
	}
	if n := len(rtts(t, toC, 5, 50*time.Millisecond)); n != 0 {
		t.Fatalf("c answered %d of 5 during the partition", n)
	}
	run.Process.Signal(syscall.SIGKILL)
	run.Wait()

	// The worker follows its parent; its queue rule lets packets pass.
	deadline := time.Now().Add(5 * time.Second)
	for hasTaggedWorker(t) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if hasTaggedWorker(t) {
		t.Fatal("the nfqueue worker outlived the faultline that started it")
	}
	if after := median(rtts(t, toB, 20, time.Second)); after > base+10*time.Millisecond {
		t.Errorf("RTT %v after the worker stopped, %v before: packets still held", after, base)
	}
	if tables := listTables(t, l); len(tables) != 2 {
		t.Fatalf("tables left by the killed run: %v, want the delay's and the partition's", tables)
	}

	rec := exec.Command(bin, "recover")
	rec.Dir, rec.Env = dir, env
	out, err := rec.CombinedOutput()
	if err != nil || strings.Count(string(out), "recovered") != 2 {
		t.Fatalf("faultline recover: %v\n%s", err, out)
	}
	if tables := listTables(t, l); len(tables) != 0 {
		t.Errorf("tables left after recover: %v", tables)
	}
	if n := len(rtts(t, toC, 10, time.Second)); n != 10 {
		t.Errorf("c answered %d of 10 after recover", n)
	}
	if after := median(rtts(t, toB, 30, time.Second)); after > base+5*time.Millisecond {
		t.Errorf("RTT %v after recover, %v before", after, base)
	}
	again := exec.Command(bin, "recover")
	again.Dir, again.Env = dir, env
	if out, err := again.CombinedOutput(); err != nil || !strings.Contains(string(out), "no open faults") {
		t.Errorf("second recover: %v\n%s", err, out)
	}
}

func waitInjected(t *testing.T, path string, n int, d time.Duration, stderr *strings.Builder) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if l, err := ledger.Open(path); err == nil {
			if open, err := l.Open(context.Background()); err == nil {
				k := 0
				for _, o := range open {
					if o.State == ledger.Injected {
						k++
					}
				}
				if k == n {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d faults not injected within %v\n%s", n, d, stderr.String())
}

// hasTaggedWorker reports whether any nfqueue worker runs (a process
// with the worker marker in its environment).
func hasTaggedWorker(t *testing.T) bool {
	t.Helper()
	out, _ := exec.Command("sh", "-c", "grep -l FAULTLINE_NFQUEUE_WORKER /proc/[0-9]*/environ 2>/dev/null").Output()
	return strings.TrimSpace(string(out)) != ""
}

// listTables lists the names of faultline's tables in a (a fault may
// have one in the inet and one in the netdev family: named once).
func listTables(t *testing.T, l *lab) []string {
	t.Helper()
	ts, err := nft.Tables(l.nsA)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ft := range ts {
		if _, name, _ := strings.Cut(ft, " "); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}
