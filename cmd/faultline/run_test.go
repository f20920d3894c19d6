package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/ledger"
)

func countEvents(j *journal.Journal, typ journal.EventType) int {
	n := 0
	for _, e := range j.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func TestPauseOneBackendHolds(t *testing.T) {
	s := startStorefront(t, 3)
	e := newEnv(t, s)
	r := e.faultline(t, "run", testdata("pause-one.yaml"), "--report", "report.html")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0 (held)\n%s", r.code, r.stderr)
	}
	j := r.journal
	if j.Status != journal.Held || len(j.Targets) != 1 || j.Targets[0].RecoveredAt == nil {
		t.Fatalf("status %s, targets %+v", j.Status, j.Targets)
	}
	if n := countEvents(j, journal.Injected); n != 1 {
		t.Errorf("%d injected events, want 1", n)
	}
	during := 0
	for _, smp := range j.Checks[0].Samples {
		if smp.Phase == "during" {
			during++
		}
	}
	if during < 5 {
		t.Errorf("%d samples during a 2s fault sampled every 200ms, want ≥5", during)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "report.html")); err != nil {
		t.Errorf("no report: %v", err)
	}
	assertRunning(t, s.backends...)
}

func TestPauseAllBackendsDeviates(t *testing.T) {
	s := startStorefront(t, 2)
	e := newEnv(t, s)
	r := e.faultline(t, "run", testdata("pause-all.yaml"))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (deviated)\n%s", r.code, r.stderr)
	}
	j := r.journal
	if j.Status != journal.Deviated {
		t.Fatalf("status %s: %s", j.Status, j.Reason)
	}
	m := j.Metrics
	if m.TimeToDetect == nil || *m.TimeToDetect > 1.5 {
		t.Errorf("time to detect %v, want a value under 1.5s (sampled every 200ms, 1s timeout)", m.TimeToDetect)
	}
	if m.TimeToRecover == nil {
		t.Errorf("no time to recover: the storefront answers again once the backends resume")
	}
	if m.Impact.FailedSamples == 0 || m.Impact.FaultsInjected != 2 || m.Impact.FaultsRecovered != 2 {
		t.Errorf("impact %+v", m.Impact)
	}
	assertRunning(t, s.backends...)
}

func TestStopConditionAbortsAndRecovers(t *testing.T) {
	s := startStorefront(t, 2)
	e := newEnv(t, s)
	start := time.Now()
	r := e.faultline(t, "run", testdata("stop-condition.yaml"))
	took := time.Since(start)
	if r.code != 3 {
		t.Fatalf("exit %d, want 3 (aborted)\n%s", r.code, r.stderr)
	}
	if took > 20*time.Second {
		t.Errorf("the run took %s: the stop condition did not cut the 60s fault short", took)
	}
	j := r.journal
	if j.Status != journal.Aborted || !strings.Contains(j.Reason, "storefront down") {
		t.Fatalf("status %s, reason %q", j.Status, j.Reason)
	}
	if countEvents(j, journal.StopCondition) != 1 || countEvents(j, journal.Recovered) != 2 {
		t.Errorf("events: %d stop-condition, %d recovered; want 1 and 2", countEvents(j, journal.StopCondition), countEvents(j, journal.Recovered))
	}
	assertRunning(t, s.backends...)
}

func TestFailedPreCheckInjectsNothing(t *testing.T) {
	s := startStorefront(t, 1)
	e := newEnv(t, s)
	r := e.faultline(t, "run", testdata("precheck-fails.yaml"))
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.journal.Reason, "nothing was injected") || len(r.journal.Targets) != 0 {
		t.Fatalf("reason %q, targets %+v", r.journal.Reason, r.journal.Targets)
	}
	l, err := ledger.Open(e.ledger)
	if err != nil {
		t.Fatal(err)
	}
	if es, _ := l.Entries(context.Background()); len(es) != 0 {
		t.Fatalf("the ledger has %d entries after a failed pre-check", len(es))
	}
	assertRunning(t, s.backends...)
}

func TestSelectorMatchingNothingFailsPreCheck(t *testing.T) {
	e := newEnv(t, nil)
	e.vars = append(e.vars, "FRONT_URL=http://127.0.0.1:1", `BACKEND_RE=no-such-process-\d{9}`)
	r := e.faultline(t, "run", testdata("pause-all.yaml"))
	if r.code != 3 || !strings.Contains(r.stderr, "no process matches") {
		t.Fatalf("exit %d, want 3 with 'no process matches'\n%s", r.code, r.stderr)
	}
}

func TestDryRunInjectsNothing(t *testing.T) {
	s := startStorefront(t, 2)
	e := newEnv(t, s)
	r := e.faultline(t, "run", "--dry-run", testdata("pause-all.yaml"))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if n := strings.Count(r.stderr, "would inject process.pause"); n != 2 {
		t.Errorf("%d 'would inject' lines, want 2\n%s", n, r.stderr)
	}
	if _, err := os.Stat(e.ledger); err == nil {
		t.Errorf("a dry run created the ledger")
	}
	assertRunning(t, s.backends...)
}

// openFaults reads the ledger's open faults.
func openFaults(t *testing.T, path string) []ledger.OpenFault {
	t.Helper()
	l, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	open, err := l.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return open
}

func injectedCount(open []ledger.OpenFault) int {
	n := 0
	for _, o := range open {
		if o.State == ledger.Injected {
			n++
		}
	}
	return n
}

// TestRecoverAfterSIGKILL kills faultline while a pause and a disk fill are
// in place, then recovers them from the ledger alone with a new process.
func TestRecoverAfterSIGKILL(t *testing.T) {
	s := startStorefront(t, 1)
	e := newEnv(t, s)
	fill := t.TempDir()
	e.vars = append(e.vars, "FILL_DIR="+fill)
	c := exec.Command(bin, "run", testdata("crash.yaml"))
	c.Dir, c.Env = e.dir, append(os.Environ(), e.vars...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	pollUntil(t, 20*time.Second, "both faults injected", func() bool { return injectedCount(openFaults(t, e.ledger)) == 2 })

	if err := c.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	backend := s.backends[0].Process.Pid
	if st := state(t, backend); st != 'T' {
		t.Fatalf("backend state %c after SIGKILL, want T: the test must observe the fault left behind", st)
	}
	files, _ := filepath.Glob(filepath.Join(fill, ".faultline-fill-*"))
	if len(files) != 1 {
		t.Fatalf("fill files %v, want one", files)
	}

	status := e.faultline(t, "status")
	if !strings.Contains(status.stdout, "process.pause") || !strings.Contains(status.stdout, "stress.disk") || !strings.Contains(status.stdout, "gone") {
		t.Errorf("status does not list both faults with their owner gone:\n%s", status.stdout)
	}
	r := e.faultline(t, "recover")
	if r.code != 0 || strings.Count(r.stdout, "recovered") != 2 {
		t.Fatalf("recover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertRunning(t, s.backends...)
	if files, _ := filepath.Glob(filepath.Join(fill, ".faultline-fill-*")); len(files) != 0 {
		t.Errorf("fill file left behind: %v", files)
	}
	again := e.faultline(t, "recover")
	if again.code != 0 || !strings.Contains(again.stdout, "no open faults") {
		t.Errorf("second recover: exit %d\n%s", again.code, again.stdout)
	}
}

// TestRecoverOwnProxyAfterSIGKILL kills faultline while a latency fault
// is in place in the experiment's own proxy (spec.proxies): the proxy, and
// the fault with it, end with the process, and a new process recovers the
// ledger record by saying so.
func TestRecoverOwnProxyAfterSIGKILL(t *testing.T) {
	backend := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startProcess(t, "demo", "serve", "backend", "--addr", backend)
	waitFor(t, backend)
	e := newEnv(t, nil)
	proxyAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.vars = append(e.vars, "PROXY_ADDR="+proxyAddr, "BACKEND_ADDR="+backend)
	c := exec.Command(bin, "run", testdata("proxy-crash.yaml"))
	c.Dir, c.Env = e.dir, append(os.Environ(), e.vars...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	pollUntil(t, 20*time.Second, "the latency fault injected", func() bool { return injectedCount(openFaults(t, e.ledger)) == 1 })
	start := time.Now()
	resp, err := http.Get("http://" + proxyAddr + "/")
	if err != nil {
		t.Fatalf("through the experiment's proxy: %v", err)
	}
	resp.Body.Close()
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Fatalf("a request through the proxy took %s: the fault is not in place", took)
	}

	if err := c.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	if conn, err := net.DialTimeout("tcp", proxyAddr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("the proxy still listens on %s after its process was killed", proxyAddr)
	}
	status := e.faultline(t, "status")
	if !strings.Contains(status.stdout, "proxy.latency") || !strings.Contains(status.stdout, "gone") {
		t.Errorf("status does not list the fault with its owner gone:\n%s", status.stdout)
	}
	r := e.faultline(t, "recover")
	if r.code != 0 || !strings.Contains(r.stdout, "recovered") || !strings.Contains(r.stdout, "the proxy and fault") {
		t.Fatalf("recover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	again := e.faultline(t, "recover")
	if again.code != 0 || !strings.Contains(again.stdout, "no open faults") {
		t.Errorf("second recover: exit %d\n%s", again.code, again.stdout)
	}
}

// TestSignalHaltsAndRecovers sends SIGINT mid-run, then another during
// recovery: the run ends aborted with every fault recovered.
func TestSignalHaltsAndRecovers(t *testing.T) {
	s := startStorefront(t, 2)
	e := newEnv(t, s)
	c := exec.Command(bin, "run", testdata("halt.yaml"))
	c.Dir, c.Env = e.dir, append(os.Environ(), e.vars...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	pollUntil(t, 20*time.Second, "faults injected", func() bool { return injectedCount(openFaults(t, e.ledger)) == 2 })
	c.Process.Signal(syscall.SIGINT)
	time.Sleep(5 * time.Millisecond)
	c.Process.Signal(syscall.SIGINT)
	err := c.Wait()
	var code int
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 3 {
		t.Fatalf("exit %d after SIGINT, want 3", code)
	}
	if open := openFaults(t, e.ledger); len(open) != 0 {
		t.Fatalf("open faults after a halt: %+v", open)
	}
	b, _ := os.ReadFile(filepath.Join(e.dir, "journal.json"))
	var j journal.Journal
	json.Unmarshal(b, &j)
	if j.Status != journal.Aborted || countEvents(&j, journal.Halt) != 1 {
		t.Errorf("journal status %s with %d halt events", j.Status, countEvents(&j, journal.Halt))
	}
	assertRunning(t, s.backends...)
}

// TestMetricsWhileRunning scrapes --metrics-addr while two pauses are in
// place, then sees them recovered and the verdict.
func TestMetricsWhileRunning(t *testing.T) {
	s := startStorefront(t, 2)
	e := newEnv(t, s)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := exec.Command(bin, "run", testdata("halt.yaml"), "--metrics-addr", addr, "--metrics-linger", "3s")
	c.Dir, c.Env = e.dir, append(os.Environ(), e.vars...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	scrape := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	active := `faultline_faults_active{experiment="held-until-halted",kind="process.pause"} 2`
	pollUntil(t, 20*time.Second, "two active pauses in the metrics", func() bool { return strings.Contains(scrape(), active) })
	if m := scrape(); !strings.Contains(m, `faultline_run_phase{experiment="held-until-halted",phase="method"} 1`) {
		t.Errorf("no method phase in the metrics:\n%s", m)
	}
	c.Process.Signal(syscall.SIGINT)
	verdict := `faultline_run_verdict{experiment="held-until-halted",status="aborted"} 1`
	pollUntil(t, 20*time.Second, "the verdict in the metrics", func() bool { return strings.Contains(scrape(), verdict) })
	m := scrape()
	for _, want := range []string{
		`faultline_faults_active{experiment="held-until-halted",kind="process.pause"} 0`,
		`faultline_faults_recovered_total{experiment="held-until-halted",kind="process.pause"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	c.Wait()
	assertRunning(t, s.backends...)
}
