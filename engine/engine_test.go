package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/engine"
	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/ledger"
	"github.com/faultline-dev/faultline/target"
)

// markerParams configure test.marker: a fault whose presence is a file in
// Dir, which the test's HTTP service reads — a real cause and effect.
type markerParams struct {
	Dir string `yaml:"dir" json:"dir"`
	// FailAfter makes the Nth injection (1-based) fail, after it has
	// created its marker, as a partly applied fault would.
	FailAfter int `yaml:"failAfter" json:"failAfter,omitempty"`
	// FailRecover makes recovery fail.
	FailRecover bool `yaml:"failRecover" json:"failRecover,omitempty"`
}

func markerPath(p *markerParams, rec *fault.Record) string {
	return filepath.Join(p.Dir, rec.ID)
}

func init() {
	fault.Register(fault.Def[markerParams]{
		Name: "test.marker", Summary: "a file standing for a fault", Reversible: true,
		Targets: []target.Type{target.Process},
		Inject: func(_ context.Context, p *markerParams, rec *fault.Record) error {
			if err := os.WriteFile(markerPath(p, rec), []byte(rec.Target.String()), 0o644); err != nil {
				return err
			}
			if n, _ := filepath.Glob(filepath.Join(p.Dir, "*")); p.FailAfter > 0 && len(n) >= p.FailAfter {
				return fmt.Errorf("injection %d fails on purpose", len(n))
			}
			return nil
		},
		Recover: func(_ context.Context, p *markerParams, rec *fault.Record) error {
			if p.FailRecover {
				return fmt.Errorf("recovery fails on purpose")
			}
			if err := os.Remove(markerPath(p, rec)); err != nil && !os.IsNotExist(err) {
				return err
			}
			return nil
		},
	})
}

// service answers 500 while any marker exists in dir.
func service(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) > 0 {
			http.Error(w, "broken by a fault", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// victims starts n processes for the fault to target and returns a regexp
// matching only them.
func victims(t *testing.T, n int) string {
	t.Helper()
	// GNU sleep adds up its arguments: a unique fraction tags the victims.
	frac := fmt.Sprintf("0.%09d", time.Now().UnixNano()%1e9)
	tag := "sleep 300 " + frac
	for i := 0; i < n; i++ {
		c := exec.Command("sleep", "300", frac)
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		sel := &experiment.ProcessSelector{Cmdline: experiment.Regexp{Regexp: regexp.MustCompile(regexp.QuoteMeta(tag))}}
		got, _ := target.FindProcesses(context.Background(), sel)
		if len(got) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("victims did not start: %d of %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return tag
}

type fixture struct {
	dir    string
	ledger *ledger.Ledger
	url    string
	procs  string
}

func newFixture(t *testing.T, procs int) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	f.ledger = l
	f.url = service(t, f.dir).URL
	if procs > 0 {
		f.procs = victims(t, procs)
	}
	return f
}

// doc renders an experiment with the fixture's paths filled in.
func (f *fixture) doc(t *testing.T, tmpl string) *experiment.Experiment {
	t.Helper()
	src := strings.NewReplacer("$URL", f.url, "$DIR", f.dir, "$PROCS", f.procs).Replace(tmpl)
	x, err := experiment.Parse([]byte(src), t.Name()+".yaml", engine.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func (f *fixture) markers(t *testing.T) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(f.dir, "*"))
	return m
}

func (f *fixture) assertNothingOpen(t *testing.T) {
	t.Helper()
	if m := f.markers(t); len(m) != 0 {
		t.Errorf("faults left in place: %v", m)
	}
	open, err := f.ledger.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 0 {
		t.Errorf("%d faults open in the ledger", len(open))
	}
}

const header = `
apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: engine-test}
`

func types(j *journal.Journal, keep ...journal.EventType) []string {
	var out []string
	for _, e := range j.Events {
		for _, k := range keep {
			if e.Type == k {
				out = append(out, string(e.Type)+" "+e.FaultID)
			}
		}
	}
	return out
}

func TestVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		spec       string
		status     journal.Status
		reason     string
		injections int
	}{
		{
			name: "no hypothesis: injected and recovered holds",
			spec: `
spec:
  method:
    - fault: test.marker
      target: {process: {cmdline: "$PROCS"}, mode: all}
      params: {dir: "$DIR"}
      duration: 200ms`,
			status: journal.Held, reason: "every fault was injected and recovered", injections: 2,
		},
		{
			name: "a check that breaks during the fault deviates",
			spec: `
spec:
  hypothesis:
    every: 50ms
    recoverWithin: 2s
    checks: [{name: up, http: {url: "$URL"}, expect: {status: 200}}]
  method:
    - fault: test.marker
      target: {process: {cmdline: "$PROCS"}}
      params: {dir: "$DIR"}
      duration: 400ms`,
			status: journal.Deviated, reason: `check "up" failed during the method`, injections: 1,
		},
		{
			name: "a check that only runs before and after holds",
			spec: `
spec:
  hypothesis:
    every: 50ms
    checks: [{name: up, http: {url: "$URL"}, expect: {status: 200}, phases: [before, after]}]
  method:
    - fault: test.marker
      target: {process: {cmdline: "$PROCS"}}
      params: {dir: "$DIR"}
      duration: 300ms`,
			status: journal.Held, injections: 1,
		},
		{
			name: "a stop condition aborts long before the duration",
			spec: `
spec:
  method:
    - fault: test.marker
      target: {process: {cmdline: "$PROCS"}}
      params: {dir: "$DIR"}
      duration: 60s
  stopWhen:
    - {name: service down, http: {url: "$URL"}, expect: {status: 200}, every: 50ms, for: 100ms}`,
			status: journal.Aborted, reason: `stop condition "service down" violated`, injections: 1,
		},
		{
			name: "a failed pre-check injects nothing",
			spec: `
spec:
  hypothesis:
    checks: [{name: up, http: {url: "$URL/nowhere", timeout: 300ms}, expect: {status: 204}}]
  method:
    - fault: test.marker
      target: {process: {cmdline: "$PROCS"}}
      params: {dir: "$DIR"}`,
			status: journal.Aborted, reason: "nothing was injected", injections: 0,
		},
		{
			name: "a failed injection rolls back the targets already hit",
			spec: `
spec:
  method:
    - fault: test.marker
      target: {process: {cmdline: "$PROCS"}, mode: all}
      params: {dir: "$DIR", failAfter: 2}
      duration: 10s`,
			status: journal.Aborted, reason: "injection 2 fails on purpose", injections: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 2)
			start := time.Now()
			j := engine.Run(context.Background(), f.doc(t, header+tc.spec), engine.Options{Ledger: f.ledger})
			if j.Status != tc.status || !strings.Contains(j.Reason, tc.reason) {
				t.Fatalf("status %s (%s), want %s containing %q", j.Status, j.Reason, tc.status, tc.reason)
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("run took %s", took)
			}
			if got := len(types(j, journal.Injecting)); got != tc.injections {
				t.Errorf("%d injections, want %d", got, tc.injections)
			}
			if j.Metrics.Impact.FaultsRecovered != tc.injections {
				t.Errorf("%d of %d faults recovered", j.Metrics.Impact.FaultsRecovered, tc.injections)
			}
			f.assertNothingOpen(t)
		})
	}
}

func TestMetricsOfADeviation(t *testing.T) {
	f := newFixture(t, 1)
	j := engine.Run(context.Background(), f.doc(t, header+`
spec:
  hypothesis:
    every: 50ms
    recoverWithin: 2s
    checks: [{name: up, http: {url: "$URL"}, expect: {status: 200}}]
  method:
    - wait: 200ms
    - fault: test.marker
      target: {process: {cmdline: "$PROCS"}}
      params: {dir: "$DIR"}
      duration: 500ms
`), engine.Options{Ledger: f.ledger})
	m := j.Metrics
	if m.TimeToDetect == nil || *m.TimeToDetect < 0 || *m.TimeToDetect > 0.3 {
		t.Errorf("time to detect %v: want within a few 50ms samples of the injection", m.TimeToDetect)
	}
	if m.TimeToRecover == nil || *m.TimeToRecover > 0.5 {
		t.Errorf("time to recover %v: the service recovers as soon as the marker is gone", m.TimeToRecover)
	}
	if m.Impact.FailedSamples < 3 || m.Impact.FailedShare <= 0 || m.Impact.FailedShare >= 1 {
		t.Errorf("impact %+v", m.Impact)
	}
	phases := map[string]int{}
	for _, s := range j.Checks[0].Samples {
		phases[s.Phase]++
	}
	if phases["before"] != 1 || phases["during"] < 10 || phases["after"] != experiment.DefaultStableSamples {
		t.Errorf("samples per phase %v", phases)
	}
}

func TestRecoveryIsInReverseOrder(t *testing.T) {
	f := newFixture(t, 1)
	j := engine.Run(context.Background(), f.doc(t, header+`
spec:
  method:
    - {name: first, fault: test.marker, target: {process: {cmdline: "$PROCS"}}, params: {dir: "$DIR"}}
    - {name: second, fault: test.marker, target: {process: {cmdline: "$PROCS"}}, params: {dir: "$DIR"}}
    - parallel:
        - {name: third, fault: test.marker, target: {process: {cmdline: "$PROCS"}}, params: {dir: "$DIR"}}
        - wait: 100ms
`), engine.Options{Ledger: f.ledger})
	ev := types(j, journal.Injected, journal.Recovered)
	if len(ev) != 6 {
		t.Fatalf("events %v", ev)
	}
	for i := 0; i < 3; i++ {
		inj, rec := strings.TrimPrefix(ev[i], "injected "), strings.TrimPrefix(ev[5-i], "recovered ")
		if inj != rec {
			t.Errorf("injected %v then recovered %v: want the reverse order", ev[:3], ev[3:])
		}
	}
	f.assertNothingOpen(t)
}

func TestHaltRecoversEverything(t *testing.T) {
	f := newFixture(t, 2)
	ctx, halt := context.WithCancel(context.Background())
	done := make(chan *journal.Journal)
	go func() {
		done <- engine.Run(ctx, f.doc(t, header+`
spec:
  hypothesis:
    every: 50ms
    checks: [{name: up, http: {url: "$URL"}, expect: {status: [200, 500]}}]
  method:
    - fault: test.marker
      target: {process: {cmdline: "$PROCS"}, mode: all}
      params: {dir: "$DIR"}
      duration: 60s
`), engine.Options{Ledger: f.ledger})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.markers(t)) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	halt()
	var j *journal.Journal
	select {
	case j = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the run did not end after a halt")
	}
	if j.Status != journal.Aborted || len(types(j, journal.Halt)) != 1 {
		t.Errorf("status %s, %d halt events", j.Status, len(types(j, journal.Halt)))
	}
	f.assertNothingOpen(t)
}

func TestFailedRecoveryIsLoud(t *testing.T) {
	f := newFixture(t, 1)
	j := engine.Run(context.Background(), f.doc(t, header+`
spec:
  method:
    - fault: test.marker
      target: {process: {cmdline: "$PROCS"}}
      params: {dir: "$DIR", failRecover: true}
`), engine.Options{Ledger: f.ledger})
	if j.Status != journal.Aborted || !strings.Contains(j.Reason, "FAULTS LEFT IN PLACE") {
		t.Fatalf("status %s: %s", j.Status, j.Reason)
	}
	open, _ := f.ledger.Open(context.Background())
	if len(open) != 1 || open[0].State != ledger.RecoverFailed {
		t.Fatalf("open faults %+v: want one in recover-failed, for `faultline recover`", open)
	}
}

func TestDryRunInjectsNothing(t *testing.T) {
	f := newFixture(t, 3)
	j := engine.Run(context.Background(), f.doc(t, header+`
spec:
  method:
    - fault: test.marker
      target: {process: {cmdline: "$PROCS"}, mode: fixed:2}
      params: {dir: "$DIR"}
`), engine.Options{DryRun: true})
	if j.Status != journal.Held || !j.DryRun || len(j.Targets) != 0 {
		t.Fatalf("status %s dry %v targets %v", j.Status, j.DryRun, j.Targets)
	}
	if plans := types(j, journal.StepStarted); len(plans) != 2 {
		t.Errorf("plan lists %d targets, want 2 (fixed:2 of 3)", len(plans))
	}
	if len(f.markers(t)) != 0 {
		t.Error("a dry run injected")
	}
}

func TestInjectsIntoTheTargetsThePlanAnnounced(t *testing.T) {
	f := newFixture(t, 5)
	j := engine.Run(context.Background(), f.doc(t, header+`
spec:
  method:
    - fault: test.marker
      target: {process: {cmdline: "$PROCS"}, mode: fixed:2}
      params: {dir: "$DIR"}
`), engine.Options{Ledger: f.ledger})
	var planned, hit []string
	for _, e := range j.Events {
		if e.Type == journal.StepStarted && e.Phase == "plan" {
			planned = append(planned, e.Target)
		}
	}
	for _, h := range j.Targets {
		hit = append(hit, h.Target)
	}
	if strings.Join(planned, ",") != strings.Join(hit, ",") || len(hit) != 2 {
		t.Fatalf("planned %v, hit %v", planned, hit)
	}
}
