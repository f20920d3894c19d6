package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestValidateReportsEveryErrorWithItsPosition(t *testing.T) {
	e := newEnv(t, nil)
	bad := filepath.Join(e.dir, "bad.yaml")
	os.WriteFile(bad, []byte(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: bad}
spec:
  method:
    - fault: process.pasue
      target: {process: {name: x}}
    - fault: stress.disk
      params: {path: /tmp, size: 1MiB, percent: 50}
    - fault: process.kill
      target: {process: {name: x}}
      duration: 5s
`), 0o644)
	good, _ := filepath.Abs("../../examples/storefront/backend-pause.yaml")
	r := e.faultline(t, "validate", bad, good)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		bad + `:6:14: spec.method[0].fault: unknown fault kind "process.pasue" (did you mean "process.pause"?)`,
		bad + `:9:`,
		bad + `:12:7: spec.method[2].duration:`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "backend-pause.yaml: valid") {
		t.Errorf("the valid file was not reported valid:\n%s", r.stdout)
	}
}

func TestInitWritesAValidStarter(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.faultline(t, "init"); r.code != 0 {
		t.Fatalf("init: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.faultline(t, "validate", "experiment.yaml"); r.code != 0 {
		t.Fatalf("the starter does not validate:\n%s", r.stderr)
	}
	if r := e.faultline(t, "init"); r.code != 2 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("init over an existing file: exit %d\n%s", r.code, r.stderr)
	}
}

func TestExamplesValidate(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*/*.yaml")
	// examples/load holds load scenarios, not experiments
	// (TestLoadExampleScenario runs them).
	files = slices.DeleteFunc(files, func(f string) bool { return strings.HasPrefix(f, "../../examples/load/") })
	shop, _ := filepath.Glob("../../examples/shop/experiments/*.yaml")
	files = append(files, shop...)
	if len(files) < 10 {
		t.Fatalf("only %d examples found", len(files))
	}
	e := newEnv(t, nil)
	// What the examples take from the environment, as their READMEs say.
	e.vars = append(e.vars, "LATENCY=250ms", "SHOP_DATA=/mnt/shop", "SHOP_PROMETHEUS=http://127.0.0.1:9090")
	for i := range files {
		files[i], _ = filepath.Abs(files[i])
	}
	if r := e.faultline(t, append([]string{"validate"}, files...)...); r.code != 0 {
		t.Fatalf("examples do not validate:\n%s", r.stderr)
	}
}

func TestFaultsListsEveryKind(t *testing.T) {
	e := newEnv(t, nil)
	r := e.faultline(t, "faults")
	for _, kind := range []string{"process.kill", "process.pause", "stress.cpu", "stress.memory", "stress.disk", "stress.io", "exec", "http", "tcp", "process"} {
		if !strings.Contains(r.stdout, kind) {
			t.Errorf("faults does not list %s", kind)
		}
	}
}

// TestInjectHoldsUntilInterrupted is the chaosd/Pumba way of working: one
// fault from flags, held until Ctrl-C, then recovered.
func TestInjectHoldsUntilInterrupted(t *testing.T) {
	s := startStorefront(t, 1)
	e := newEnv(t, s)
	backend := s.backends[0].Process.Pid
	c := exec.Command(bin, "inject", "process.pause", "--target", "pid="+itoa(backend))
	c.Dir, c.Env = e.dir, append(os.Environ(), e.vars...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	pollUntil(t, 10*time.Second, "the backend paused", func() bool { return state(t, backend) == 'T' })
	time.Sleep(300 * time.Millisecond)
	if state(t, backend) != 'T' {
		t.Fatal("the fault was not held")
	}
	c.Process.Signal(syscall.SIGINT)
	err := c.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit %v after Ctrl-C, want 3 (halted)", err)
	}
	assertRunning(t, s.backends...)
	if open := openFaults(t, e.ledger); len(open) != 0 {
		t.Errorf("open faults: %+v", open)
	}
}

func TestInjectBadFlagsIsAUsageError(t *testing.T) {
	e := newEnv(t, nil)
	for _, args := range [][]string{
		{"inject", "process.pause"},                                               // no target
		{"inject", "process.pause", "--target", "cmdline"},                        // not key=value
		{"inject", "stress.disk", "--param", "size=lots", "--param", "path=/tmp"}, // bad size
		{"inject", "no.such.kind"},
		{"run", "--no-such-flag", "x.yaml"},
	} {
		if r := e.faultline(t, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
}
