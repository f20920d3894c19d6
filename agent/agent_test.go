package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/agent/protocol"
	_ "github.com/faultline-dev/faultline/fault/process" // process.pause
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/journal"
)

// Leases and waits are short so the dead man's switch trips in a test's
// time.
const (
	testLease = 1500 * time.Millisecond
	testWait  = 200 * time.Millisecond
)

// startSleep starts a process to pause, in its own process group, and
// resumes and ends it at cleanup.
func startSleep(t *testing.T) int {
	t.Helper()
	c := exec.Command("sleep", "60")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Signal(syscall.SIGCONT)
		c.Process.Kill()
		c.Wait()
	})
	return c.Process.Pid
}

func stopped(t *testing.T, pid int) bool {
	t.Helper()
	st, err := procfs.ReadStat(pid)
	if err != nil {
		t.Fatalf("pid %d: %v", pid, err)
	}
	return st.State == 'T' || st.State == 't'
}

// waitStopped waits (bounded) until pid is stopped (true) or running.
func waitStopped(t *testing.T, pid int, want bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for stopped(t, pid) != want {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: stopped is %v after %s, want %v", pid, !want, within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pauseDoc is an experiment that pauses pid for d.
func pauseDoc(pid int, d string) string {
	return fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: agent-pause}
spec:
  method:
    - name: freeze sleep
      fault: process.pause
      target:
        process: {pid: %d}
      duration: %s
`, pid, d)
}

// startAgent runs an agent in this process against s; stop (also called
// at cleanup) cancels it and waits, bounded, for Run to return.
func startAgent(t *testing.T, s *fakeServer, name string) (stop func()) {
	t.Helper()
	a, err := New(Config{
		Server: s.url, Token: s.token, Name: name, Labels: map[string]string{"zone": "a", "role": "db"},
		StateDir: t.TempDir(), LeaseGrace: 200 * time.Millisecond,
		Backoff: Backoff{Min: 50 * time.Millisecond, Max: 300 * time.Millisecond},
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("agent did not stop within 15s of being told to")
		}
	})
	t.Cleanup(stop)
	s.waitFor(5*time.Second, name, "the agent to register", func(a *fakeAgent) bool { return len(a.registrations) > 0 })
	return stop
}

// testWriter sends the agent's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s", b)
	return len(b), nil
}

func hasJournal(id string) func(a *fakeAgent) bool {
	return func(a *fakeAgent) bool { return a.journals[id] != nil }
}

func TestAgentRunsAnAssignmentAndStreamsItsEvents(t *testing.T) {
	s := newFakeServer(t, testLease, testWait)
	startAgent(t, s, "host-a")
	s.read("host-a", func(a *fakeAgent) {
		r := a.registrations[0]
		if r.Name != "host-a" || r.Labels["zone"] != "a" || r.Labels["role"] != "db" || r.Hostname == "" || r.Version == "" {
			t.Errorf("registration %+v", r)
		}
	})

	pid := startSleep(t)
	s.assign("host-a", protocol.Assignment{ID: "asg-1", RunID: "run-1", Experiment: pauseDoc(pid, "2s")})
	waitStopped(t, pid, true, 5*time.Second)
	s.waitFor(3*time.Second, "host-a", "the injected event while the fault is in place", func(a *fakeAgent) bool {
		return slices.Contains(a.eventTypes(t, "run-1"), journal.Injected)
	})
	s.read("host-a", func(a *fakeAgent) {
		if a.journals["asg-1"] != nil {
			t.Errorf("the journal came before the 2s fault ended: events are not streamed")
		}
		if !slices.Contains(a.running, "asg-1") || len(a.openFaults) != 1 || a.openFaults[0].RunID != "run-1" {
			t.Errorf("mid-run poll: running %v, open faults %+v; want asg-1 and one fault of run-1", a.running, a.openFaults)
		}
	})

	s.waitFor(10*time.Second, "host-a", "the journal", hasJournal("asg-1"))
	if stopped(t, pid) {
		t.Errorf("pid %d still stopped after the run", pid)
	}
	s.read("host-a", func(a *fakeAgent) {
		j := a.journals["asg-1"]
		if j.Status != journal.Held || j.Run != "run-1" || len(j.Targets) != 1 || j.Targets[0].RecoveredAt == nil {
			t.Errorf("journal: status %s (%s), run %s, targets %+v", j.Status, j.Reason, j.Run, j.Targets)
		}
		types := a.eventTypes(t, "run-1")
		for _, want := range []journal.EventType{journal.Injecting, journal.Injected, journal.Recovered, journal.Verdict} {
			if !slices.Contains(types, want) {
				t.Errorf("streamed events %v lack %s", types, want)
			}
		}
		if len(types) != len(j.Events) {
			t.Errorf("%d events streamed, the journal has %d", len(types), len(j.Events))
		}
		if len(a.recovered) != 0 {
			t.Errorf("the agent reported faults recovered by itself: %+v", a.recovered)
		}
	})
	s.waitFor(3*time.Second, "host-a", "a poll with nothing running or open", func(a *fakeAgent) bool {
		return len(a.running) == 0 && len(a.openFaults) == 0
	})
}

func TestAgentReportsAnInvalidAssignment(t *testing.T) {
	s := newFakeServer(t, testLease, testWait)
	startAgent(t, s, "host-a")
	s.assign("host-a", protocol.Assignment{ID: "asg-bad", RunID: "run-bad", Experiment: pauseDoc(1, "2s") + "  bogus: 1\n"})
	s.waitFor(5*time.Second, "host-a", "the journal", hasJournal("asg-bad"))
	s.read("host-a", func(a *fakeAgent) {
		j := a.journals["asg-bad"]
		if j.Status != journal.Invalid || j.Run != "run-bad" || j.Reason == "" || len(j.Targets) != 0 {
			t.Errorf("journal: status %s, run %s, reason %q, targets %v", j.Status, j.Run, j.Reason, j.Targets)
		}
		if types := a.eventTypes(t, "run-bad"); !slices.Equal(types, []journal.EventType{journal.ErrorEvent, journal.Verdict}) {
			t.Errorf("events %v", types)
		}
	})
}

func TestHaltRecoversMidRun(t *testing.T) {
	tests := []struct {
		name string
		halt func(s *fakeServer)
	}{
		{"halt one", func(s *fakeServer) { s.halt("host-a", "asg-1") }},
		{"halt all", func(s *fakeServer) { s.haltAll("host-a") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t, testLease, testWait)
			startAgent(t, s, "host-a")
			pid := startSleep(t)
			s.assign("host-a", protocol.Assignment{ID: "asg-1", RunID: "run-1", Experiment: pauseDoc(pid, "60s")})
			waitStopped(t, pid, true, 5*time.Second)

			tt.halt(s)
			waitStopped(t, pid, false, 3*time.Second)
			s.waitFor(5*time.Second, "host-a", "the journal", hasJournal("asg-1"))
			s.read("host-a", func(a *fakeAgent) {
				j := a.journals["asg-1"]
				if j.Status != journal.Aborted || len(j.Targets) != 1 || j.Targets[0].RecoveredAt == nil {
					t.Errorf("journal: status %s (%s), targets %+v", j.Status, j.Reason, j.Targets)
				}
				if !slices.Contains(a.eventTypes(t, "run-1"), journal.Halt) {
					t.Errorf("no halt event streamed")
				}
				if len(a.recovered) != 0 {
					t.Errorf("a halt is not a fault recovered by the agent itself: %+v", a.recovered)
				}
			})
		})
	}
}

func TestAssignmentsRunConcurrentlyAndOnce(t *testing.T) {
	s := newFakeServer(t, testLease, testWait)
	startAgent(t, s, "host-a")
	pids := []int{startSleep(t), startSleep(t)}
	first := protocol.Assignment{ID: "asg-1", RunID: "run-1", Experiment: pauseDoc(pids[0], "1500ms")}
	s.assign("host-a", first)
	s.assign("host-a", protocol.Assignment{ID: "asg-2", RunID: "run-2", Experiment: pauseDoc(pids[1], "1500ms")})
	s.assign("host-a", first) // sent twice: run once
	deadline := time.Now().Add(5 * time.Second)
	for !stopped(t, pids[0]) || !stopped(t, pids[1]) {
		if time.Now().After(deadline) {
			t.Fatal("the two assignments never had their faults in place at the same time")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.waitFor(10*time.Second, "host-a", "both journals", func(a *fakeAgent) bool {
		return a.journals["asg-1"] != nil && a.journals["asg-2"] != nil
	})
	s.assign("host-a", first) // sent again after it ended: still once
	s.waitFor(3*time.Second, "host-a", "two more polls", func(a *fakeAgent) bool { return len(a.queue) == 0 })
	time.Sleep(2 * testWait)
	s.read("host-a", func(a *fakeAgent) {
		for _, id := range []string{"asg-1", "asg-2"} {
			if j := a.journals[id]; j.Status != journal.Held {
				t.Errorf("%s: %s (%s)", id, j.Status, j.Reason)
			}
		}
		if a.dupes != 0 || slices.Contains(a.running, "asg-1") {
			t.Errorf("asg-1 ran again: %d events received twice, running %v", a.dupes, a.running)
		}
	})
}

func TestEventsAreResentWhenAnswersAreLost(t *testing.T) {
	s := newFakeServer(t, testLease, testWait)
	startAgent(t, s, "host-a")
	pid := startSleep(t)
	s.assign("host-a", protocol.Assignment{ID: "asg-1", RunID: "run-1", Experiment: pauseDoc(pid, "1s")})
	waitStopped(t, pid, true, 5*time.Second)
	s.loseAnswers(3)
	s.waitFor(10*time.Second, "host-a", "the journal", hasJournal("asg-1"))
	s.read("host-a", func(a *fakeAgent) {
		if a.dupes == 0 {
			t.Errorf("no event was sent twice although 3 answers were lost")
		}
		types := a.eventTypes(t, "run-1") // checks every Seq arrived
		if j := a.journals["asg-1"]; len(types) != len(j.Events) || j.Status != journal.Held {
			t.Errorf("%d events for a journal of %d, status %s", len(types), len(j.Events), j.Status)
		}
	})
}

func TestStoppingTheAgentHaltsAndReports(t *testing.T) {
	s := newFakeServer(t, testLease, time.Minute) // a poll held far longer than the agent waits to stop
	stop := startAgent(t, s, "host-a")
	pid := startSleep(t)
	s.assign("host-a", protocol.Assignment{ID: "asg-1", RunID: "run-1", Experiment: pauseDoc(pid, "60s")})
	waitStopped(t, pid, true, 5*time.Second)
	stop()
	if stopped(t, pid) {
		t.Fatal("the agent stopped and left its pause in place")
	}
	s.waitFor(time.Second, "host-a", "the journal sent when stopping", hasJournal("asg-1"))
	s.read("host-a", func(a *fakeAgent) {
		if j := a.journals["asg-1"]; j.Status != journal.Aborted {
			t.Errorf("journal: %s (%s)", j.Status, j.Reason)
		}
	})
}

func TestLeaseExpiryRecoversWithoutTheServer(t *testing.T) {
	s := newFakeServer(t, testLease, testWait)
	startAgent(t, s, "host-a")
	pid := startSleep(t)
	s.assign("host-a", protocol.Assignment{ID: "asg-1", RunID: "run-1", Experiment: pauseDoc(pid, "60s")})
	waitStopped(t, pid, true, 5*time.Second)
	s.waitFor(3*time.Second, "host-a", "the fault reported open", func(a *fakeAgent) bool { return len(a.openFaults) == 1 })
	var faultID string
	s.read("host-a", func(a *fakeAgent) { faultID = a.openFaults[0].ID })

	s.setDark(true)
	dark := time.Now()
	waitStopped(t, pid, false, testLease+time.Second)
	t.Logf("the dead man's switch recovered the pause %s after the server went dark (lease %s)", time.Since(dark).Round(time.Millisecond), testLease)
	s.read("host-a", func(a *fakeAgent) {
		if a.journals["asg-1"] != nil || len(a.recovered) != 0 {
			t.Errorf("the server heard of the recovery while dark")
		}
	})

	s.setDark(false)
	s.waitFor(5*time.Second, "host-a", "the journal after reconnecting", hasJournal("asg-1"))
	s.waitFor(2*time.Second, "host-a", "the fault reported recovered", func(a *fakeAgent) bool { return len(a.recovered) > 0 })
	s.read("host-a", func(a *fakeAgent) {
		want := protocol.RecoveredFault{ID: faultID, Kind: "process.pause", RunID: "run-1", Reason: ReasonLeaseExpired}
		got := a.recovered[0]
		got.At = time.Time{}
		if len(a.recovered) != 1 || got != want {
			t.Errorf("recovered %+v, want one %+v", a.recovered, want)
		}
		j := a.journals["asg-1"]
		if j.Status != journal.Aborted || j.Targets[0].RecoveredAt == nil {
			t.Errorf("journal: status %s, targets %+v", j.Status, j.Targets)
		}
		if !strings.HasPrefix(j.Reason, "lease expired") || j.Events[len(j.Events)-1].Message != "aborted: "+j.Reason {
			t.Errorf("verdict %q, last event %q: want the lease named", j.Reason, j.Events[len(j.Events)-1].Message)
		}
		types := a.eventTypes(t, "run-1") // no gap although some polls were lost
		if !slices.Contains(types, journal.Recovered) {
			t.Errorf("events %v lack the recovery", types)
		}
	})
}

func TestAgentRegistersAgainWhenTheServerForgotIt(t *testing.T) {
	s := newFakeServer(t, testLease, testWait)
	startAgent(t, s, "host-a")
	s.forget("host-a")
	s.waitFor(5*time.Second, "host-a", "the agent to register again", func(a *fakeAgent) bool { return len(a.registrations) == 1 })
	pid := startSleep(t)
	s.assign("host-a", protocol.Assignment{ID: "asg-1", RunID: "run-1", Experiment: pauseDoc(pid, "100ms")})
	s.waitFor(5*time.Second, "host-a", "the journal", hasJournal("asg-1"))
}

func TestTwoAgentsCannotShareAStateDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	a, err := New(Config{Server: "http://127.0.0.1:1", Token: "t", StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Run(ctx); err == nil {
		t.Fatal("a second agent ran in a state directory already in use")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no server", Config{Token: "t", StateDir: dir}},
		{"not http", Config{Server: "ftp://h", Token: "t", StateDir: dir}},
		{"no host", Config{Server: "http://", Token: "t", StateDir: dir}},
		{"no token", Config{Server: "http://127.0.0.1:7400", StateDir: dir}},
		{"no state dir", Config{Server: "http://127.0.0.1:7400", Token: "t"}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}
