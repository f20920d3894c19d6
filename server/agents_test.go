package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/agent/protocol"
	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/store"
)

// event is a journal event as an agent sends it.
func event(t *testing.T, a *testAgent, asg protocol.Assignment, seq int64, typ journal.EventType, msg string) protocol.RunEvent {
	b, err := json.Marshal(journal.Event{At: float64(seq) / 10, Time: time.Now().UTC(), Type: typ, Message: msg, Target: "pid 42 (sleep)"})
	if err != nil {
		t.Fatal(err)
	}
	return protocol.RunEvent{AssignmentID: asg.ID, RunID: asg.RunID, Seq: seq, Event: b}
}

// end is an assignment's last event, with its journal.
func end(t *testing.T, asg protocol.Assignment, seq int64, status journal.Status, reason string) protocol.RunEvent {
	now := time.Now().UTC()
	at := 0.5
	j := journal.Journal{APIVersion: journal.APIVersion, Run: asg.RunID, Name: "short-wait", Status: status, Reason: reason,
		Started: now.Add(-time.Second), Ended: now, Checks: []*journal.Series{},
		Events:  []journal.Event{{At: 1, Time: now, Type: journal.Verdict, Message: string(status)}},
		Targets: []journal.Hit{{FaultID: "f1", Step: "s", Fault: "process.pause", Target: "pid 42 (sleep)", InjectedAt: 0.2, RecoveredAt: &at}},
		Metrics: journal.Metrics{Impact: journal.Impact{Samples: 4, FailedSamples: 1, FaultsInjected: 1, FaultsRecovered: 1}},
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return protocol.RunEvent{AssignmentID: asg.ID, RunID: asg.RunID, Seq: seq, Journal: b}
}

// The agent protocol end to end, driven by a test client: register, long
// poll, an assignment delivered at once and until acknowledged, events
// de-duplicated, the journal ending the run.
func TestAgentProtocol(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			// Waits long enough that an answer at once is told apart from
			// a held poll even on a loaded machine.
			e := newEnv(t, envOptions{dbURL: b.url(t), pollWait: 2 * time.Second, lease: 5 * time.Second}).withTokens()
			a := e.newAgent("web-1", map[string]string{"zone": "a"})
			again := e.newAgent("web-1", map[string]string{"zone": "a", "role": "db"})
			if again.id != a.id {
				t.Fatalf("re-registering changed the id: %s → %s", a.id, again.id)
			}

			// Nothing to do: the poll is held for the wait, or the shorter
			// one the agent asks for.
			reply, took := a.poll(protocol.Poll{})
			if took < 1900*time.Millisecond || len(reply.Assignments) != 0 || time.Duration(reply.Lease) != 5*time.Second {
				t.Fatalf("idle poll: %+v after %s", reply, took)
			}
			if _, took = a.poll(protocol.Poll{Wait: protocol.Duration(100 * time.Millisecond)}); took > time.Second {
				t.Fatalf("a poll asking for 100ms was held %s", took)
			}

			// A run for zone a reaches the agent's pending poll at once.
			name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "10ms"))
			pending := a.pollAsync(protocol.Poll{})
			time.Sleep(100 * time.Millisecond)
			started := time.Now()
			run := e.startRun(startRequest{Experiment: name, Agents: &store.AgentSelector{Labels: map[string]string{"zone": "a"}}})
			if run.Status != store.RunPending {
				t.Fatalf("run %+v", run)
			}
			reply = <-pending
			if took := time.Since(started); took > time.Second || len(reply.Assignments) != 1 {
				t.Fatalf("assignment after %s: %+v", took, reply)
			}
			asg := reply.Assignments[0]
			if asg.RunID != run.ID || !strings.Contains(asg.Experiment, "short-wait") {
				t.Fatalf("assignment %+v", asg)
			}
			// Not acknowledged: sent again.
			reply, _ = a.poll(protocol.Poll{})
			if len(reply.Assignments) != 1 || reply.Assignments[0].ID != asg.ID {
				t.Fatalf("assignment not sent again: %+v", reply)
			}
			// Acknowledged with events; a resend after a failed poll is
			// not stored twice.
			evs := []protocol.RunEvent{event(t, a, asg, 1, journal.PhaseStarted, "pre-check"), event(t, a, asg, 2, journal.Injected, "in")}
			reply, _ = a.poll(protocol.Poll{Running: []string{asg.ID}, Events: evs, Wait: protocol.Duration(50 * time.Millisecond),
				OpenFaults: []protocol.OpenFault{{ID: "f1", Kind: "process.pause", Target: "pid 42", RunID: run.ID, Since: time.Now()}}})
			if len(reply.Assignments) != 0 {
				t.Fatalf("acknowledged assignment sent again: %+v", reply)
			}
			sample := protocol.RunEvent{AssignmentID: asg.ID, RunID: asg.RunID, Seq: 4, Check: "up", SeriesKind: "hypothesis",
				Measure: "latency", Unit: "s", Tolerance: "< 300ms",
				Sample: json.RawMessage(`{"at":0.3,"phase":"during","ok":false,"took":0.01,"failures":["status 500"]}`)}
			a.poll(protocol.Poll{Running: []string{asg.ID}, Events: append(evs, event(t, a, asg, 3, journal.Recovered, "out"), sample), Wait: protocol.Duration(50 * time.Millisecond)})
			stored, err := e.st.RunEvents(t.Context(), run.ID, 0, 100)
			if err != nil || len(stored) != 4 {
				t.Fatalf("stored events %d %v", len(stored), err)
			}
			var smp sampleEvent
			if err := json.Unmarshal(stored[3].Event, &smp); err != nil || smp.Type != "sample" || smp.Check != "up" || smp.Measure != "latency" || smp.Unit != "s" || smp.Tolerance != "< 300ms" || smp.Sample.OK || smp.Sample.Failures[0] != "status 500" {
				t.Fatalf("stored sample %s", stored[3].Event)
			}
			var v runView
			e.do("GET", "/api/v1/runs/"+run.ID, e.viewer, nil, http.StatusOK, &v)
			if v.Status != store.RunRunning || len(v.Assignments) != 1 || v.Assignments[0].State != store.AssignmentRunning {
				t.Fatalf("run while the agent runs it: %+v", v)
			}
			var detail agentDetail
			e.do("GET", "/api/v1/agents/"+a.id, e.viewer, nil, http.StatusOK, &detail)
			if detail.OpenFaults != 0 || detail.EffectiveLabels["role"] != "db" || len(detail.Assignments) != 1 {
				t.Fatalf("agent %+v", detail)
			}

			// The journal ends the assignment and the run.
			a.poll(protocol.Poll{Events: []protocol.RunEvent{end(t, asg, 5, journal.Held, "fine")}, Wait: protocol.Duration(50 * time.Millisecond)})
			v = e.waitRun(run.ID, 5*time.Second)
			if v.Status != store.RunHeld || v.Assignments[0].State != store.AssignmentDone {
				t.Fatalf("run after the journal: %+v", v)
			}
			var j journal.Journal
			e.do("GET", "/api/v1/runs/"+run.ID+"/journal", e.viewer, nil, http.StatusOK, &j)
			if j.Status != journal.Held || j.Targets[0].Target != "web-1: pid 42 (sleep)" || j.Metrics.Impact.FailedShare != 0.25 {
				t.Fatalf("merged journal %+v", j)
			}
			e.do("GET", "/api/v1/runs/"+run.ID+"/report", e.viewer, nil, http.StatusOK, nil)
			if evs := e.stream(run.ID, 0).until(t, "end", 5*time.Second); len(evs) != 5 || evs[3].name != "sample" {
				t.Fatalf("stream of an agent run: %v", names(evs))
			}

			// Someone else's poll, an unknown agent.
			other := e.newAgent("web-2", nil)
			other.poll(protocol.Poll{Events: []protocol.RunEvent{event(t, other, asg, 9, journal.Halt, "not mine")}, Wait: protocol.Duration(10 * time.Millisecond)})
			if stored, _ := e.st.RunEvents(t.Context(), run.ID, 0, 100); len(stored) != 4 {
				t.Fatalf("another agent's event was stored: %d", len(stored))
			}
			e.do("POST", "/api/v1/agents/ag-nope/poll", e.agent, protocol.Poll{}, http.StatusNotFound, nil)
		})
	}
}

// Agents are picked by labels, then by mode, deterministically with a
// seed; operator labels win over reported ones.
func TestAgentSelection(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	var zoneA []string
	for i, zone := range []string{"a", "a", "a", "a", "b", "b"} {
		ag := e.newAgent("host-"+strconv.Itoa(i), map[string]string{"zone": zone})
		if zone == "a" {
			zoneA = append(zoneA, ag.id)
		}
	}
	name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "10ms"))
	seed := int64(3)
	pick := func(sel store.AgentSelector) []string {
		t.Helper()
		run := e.startRun(startRequest{Experiment: name, Agents: &sel})
		var v runView
		e.do("GET", "/api/v1/runs/"+run.ID, e.viewer, nil, http.StatusOK, &v)
		var ids []string
		for _, a := range v.Assignments {
			ids = append(ids, a.Agent)
		}
		slices.Sort(ids)
		e.do("POST", "/api/v1/runs/"+run.ID+"/halt", e.runner, nil, http.StatusAccepted, nil)
		return ids
	}
	tests := []struct {
		name string
		sel  store.AgentSelector
		n    int
	}{
		{"all of zone a", store.AgentSelector{Labels: map[string]string{"zone": "a"}}, 4},
		{"half of zone a (the AZ attack)", store.AgentSelector{Labels: map[string]string{"zone": "a"}, Mode: "percent:50", Seed: &seed}, 2},
		{"one anywhere", store.AgentSelector{Mode: "one"}, 1},
		{"fixed 3 of 6", store.AgentSelector{Mode: "fixed:3", Seed: &seed}, 3},
	}
	for _, tt := range tests {
		got := pick(tt.sel)
		if len(got) != tt.n {
			t.Errorf("%s: %d agents, want %d", tt.name, len(got), tt.n)
		}
		if tt.sel.Labels["zone"] == "a" {
			for _, id := range got {
				if !slices.Contains(zoneA, id) {
					t.Errorf("%s: picked %s outside zone a", tt.name, id)
				}
			}
		}
		if tt.sel.Seed != nil && !slices.Equal(got, pick(tt.sel)) {
			t.Errorf("%s: the same seed picked differently", tt.name)
		}
	}
	// Operators move an agent to zone c.
	var view agentView
	e.do("PUT", "/api/v1/agents/"+zoneA[0]+"/labels", e.admin, labelsRequest{Labels: map[string]string{"zone": "c"}}, http.StatusOK, &view)
	if view.EffectiveLabels["zone"] != "c" || view.Labels["zone"] != "a" {
		t.Fatalf("labels %+v", view)
	}
	e.do("PUT", "/api/v1/agents/"+zoneA[0]+"/labels", e.runner, labelsRequest{}, http.StatusForbidden, nil)
	if got := pick(store.AgentSelector{Labels: map[string]string{"zone": "c"}}); !slices.Equal(got, zoneA[:1]) {
		t.Fatalf("zone c picks %v", got)
	}
	var agents []agentView
	e.do("GET", "/api/v1/agents", e.viewer, nil, http.StatusOK, &agents)
	if len(agents) != 6 || agents[0].LastSeen.IsZero() || agents[0].Status != store.AgentOnline {
		t.Fatalf("agents %+v", agents)
	}
}

// Halt-all halts the runs on the server and on agents, and every agent's
// pending poll answers at once with haltAll.
func TestHaltAll(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, envOptions{dbURL: b.url(t), pollWait: 3 * time.Second, lease: 8 * time.Second}).withTokens()
			pid := sleeper(t)
			local := e.startRun(startRequest{Experiment: e.createExperiment(document(t, "pause.yaml", "$PID", strconv.Itoa(pid), "$DURATION", "60s"))})
			name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "60s"))
			agents := []*testAgent{e.newAgent("a1", map[string]string{"zone": "a"}), e.newAgent("a2", map[string]string{"zone": "a"}), e.newAgent("b1", map[string]string{"zone": "b"})}
			remote := e.startRun(startRequest{Experiment: name, Agents: &store.AgentSelector{Labels: map[string]string{"zone": "a"}}})
			var asgs []protocol.Assignment
			for _, a := range agents[:2] {
				reply, _ := a.poll(protocol.Poll{})
				asgs = append(asgs, reply.Assignments...)
				a.poll(protocol.Poll{Running: []string{reply.Assignments[0].ID}, Wait: protocol.Duration(10 * time.Millisecond)})
			}
			e.stream(local.ID, 0).until(t, "injected", 10*time.Second)

			var pending []<-chan protocol.PollReply
			for i, a := range agents {
				var running []string
				if i < 2 {
					running = []string{asgs[i].ID}
				}
				pending = append(pending, a.pollAsync(protocol.Poll{Running: running}))
			}
			time.Sleep(200 * time.Millisecond) // the polls are held
			pressed := time.Now()
			var res haltAllResult
			e.do("POST", "/api/v1/halt", e.runner, haltRequest{Reason: "big red button"}, http.StatusOK, &res)
			for i, ch := range pending {
				reply := <-ch
				if took := time.Since(pressed); !reply.HaltAll || took > 1500*time.Millisecond {
					t.Fatalf("agent %d told %+v after %s", i, reply, took)
				}
				if len(reply.Halt) != 0 || len(reply.Assignments) != 0 {
					t.Fatalf("agent %d: halt-all comes alone: %+v", i, reply)
				}
			}
			slices.Sort(res.Runs)
			want := []string{local.ID, remote.ID}
			slices.Sort(want)
			if !slices.Equal(res.Runs, want) || res.Agents != 3 {
				t.Fatalf("halt-all result %+v", res)
			}
			// Told once; the halts of runs not yet ended follow.
			for i, a := range agents {
				var running, want []string
				if i < 2 {
					running, want = []string{asgs[i].ID}, []string{asgs[i].ID}
				}
				reply, _ := a.poll(protocol.Poll{Running: running, Wait: protocol.Duration(10 * time.Millisecond)})
				if reply.HaltAll || !slices.Equal(reply.Halt, want) {
					t.Fatalf("agent %d after halt-all: %+v, want halts %v", i, reply, want)
				}
			}
			if v := e.waitRun(local.ID, 10*time.Second); v.Status != store.RunAborted || stopped(t, pid) {
				t.Fatalf("local run after halt-all: %+v", v.Run)
			}
			for i, a := range agents[:2] {
				a.poll(protocol.Poll{Events: []protocol.RunEvent{end(t, asgs[i], 1, journal.Aborted, "halted by the operator; every fault was recovered")},
					Recovered: []protocol.RecoveredFault{{ID: "f" + strconv.Itoa(i), Kind: "process.pause", RunID: remote.ID, At: time.Now(), Reason: "halt all"}},
					Wait:      protocol.Duration(10 * time.Millisecond)})
			}
			v := e.waitRun(remote.ID, 5*time.Second)
			if v.Status != store.RunAborted || !strings.Contains(v.Reason, "2 agents: 2 aborted") {
				t.Fatalf("agent run after halt-all: %+v", v.Run)
			}
			e.hooks.wait(t, "halt.all", "", 5*time.Second)
			var audit []store.AuditEntry
			e.do("GET", "/api/v1/audit?action=halt.all", e.viewer, nil, http.StatusOK, &audit)
			if len(audit) != 1 || !strings.Contains(string(audit[0].Details), "big red button") {
				t.Fatalf("audit %+v", audit)
			}
			e.do("GET", "/api/v1/audit?action=agent.recovered", e.viewer, nil, http.StatusOK, &audit)
			if len(audit) != 2 || audit[0].Actor != "agent a2" {
				t.Fatalf("recovered faults audited as %+v", audit)
			}
		})
	}
}

// An agent that stops polling is lost after its lease, with its
// assignment; when it comes back with its journal, the run is updated.
func TestAgentLostAfterLease(t *testing.T) {
	e := newEnv(t, envOptions{lease: 2 * time.Second, pollWait: 200 * time.Millisecond}).withTokens()
	a := e.newAgent("flaky", map[string]string{"zone": "a"})
	name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "10ms"))
	run := e.startRun(startRequest{Experiment: name, Agents: &store.AgentSelector{Labels: map[string]string{"zone": "a"}}})
	reply, _ := a.poll(protocol.Poll{})
	asg := reply.Assignments[0]
	a.poll(protocol.Poll{Running: []string{asg.ID}, Wait: protocol.Duration(10 * time.Millisecond)})
	// Silence for longer than the lease.
	v := e.waitRun(run.ID, 5*time.Second)
	if v.Status != store.RunAborted || v.Assignments[0].State != store.AssignmentLost || !strings.Contains(v.Reason, "lost") {
		t.Fatalf("run of a lost agent: %+v", v)
	}
	e.hooks.wait(t, "run.aborted", run.ID, 5*time.Second)
	var ag agentView
	e.do("GET", "/api/v1/agents/"+a.id, e.viewer, nil, http.StatusOK, &ag)
	if ag.Status != store.AgentLost {
		t.Fatalf("agent %+v", ag)
	}
	// It comes back (its dead man's switch halted the run) and reports.
	a.poll(protocol.Poll{Events: []protocol.RunEvent{end(t, asg, 1, journal.Aborted, "lease expired")}, Wait: protocol.Duration(10 * time.Millisecond)})
	e.do("GET", "/api/v1/runs/"+run.ID, e.viewer, nil, http.StatusOK, &v)
	if v.Assignments[0].State != store.AssignmentDone || !strings.Contains(v.Reason, "lease expired") {
		t.Fatalf("run after the agent came back: %+v", v)
	}
	e.do("GET", "/api/v1/agents/"+a.id, e.viewer, nil, http.StatusOK, &ag)
	if ag.Status != store.AgentOnline {
		t.Fatalf("agent back %+v", ag)
	}
}

// A restarted server keeps the runs on agents: the agent polls the new
// server with the same id and its journal completes the run.
func TestRestartKeepsAgentRuns(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := b.url(t)
			e := newEnv(t, envOptions{dbURL: db}).withTokens()
			a := e.newAgent("survivor", map[string]string{"zone": "a"})
			name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "10ms"))
			run := e.startRun(startRequest{Experiment: name, Agents: &store.AgentSelector{Labels: map[string]string{"zone": "a"}}})
			reply, _ := a.poll(protocol.Poll{})
			asg := reply.Assignments[0]
			a.poll(protocol.Poll{Running: []string{asg.ID}, Events: []protocol.RunEvent{event(t, a, asg, 1, journal.Injected, "in")}, Wait: protocol.Duration(10 * time.Millisecond)})
			e.stop()

			e2 := newEnv(t, envOptions{dbURL: db})
			e2.runner, e2.viewer, e2.agent = e.runner, e.viewer, e.agent
			a.e = e2
			// Resent after the failed poll, and new ones.
			a.poll(protocol.Poll{Running: []string{asg.ID}, Events: []protocol.RunEvent{event(t, a, asg, 1, journal.Injected, "in"), event(t, a, asg, 2, journal.Recovered, "out"), end(t, asg, 3, journal.Held, "fine")}, Wait: protocol.Duration(10 * time.Millisecond)})
			v := e2.waitRun(run.ID, 5*time.Second)
			if v.Status != store.RunHeld {
				t.Fatalf("run after the restart: %+v", v)
			}
			if evs, _ := e2.st.RunEvents(t.Context(), run.ID, 0, 100); len(evs) != 2 {
				t.Fatalf("%d events kept, want 2", len(evs))
			}
		})
	}
}

// An agent away during halt-all is told when it polls, even after the
// server restarted meanwhile; and only once.
func TestHaltAllOutlivesRestart(t *testing.T) {
	db := store.DefaultURL(t.TempDir())
	o := envOptions{dbURL: db, pollWait: 3 * time.Second, lease: 8 * time.Second}
	e := newEnv(t, o).withTokens()
	a := e.newAgent("away", nil)
	told := e.newAgent("here", nil)
	e.do("POST", "/api/v1/halt", e.runner, nil, http.StatusOK, nil)
	if reply, _ := told.poll(protocol.Poll{}); !reply.HaltAll {
		t.Fatal("a polling agent was not told")
	}
	e.stop()
	e2 := newEnv(t, o)
	a.e, told.e = e2, e2
	if reply, took := a.poll(protocol.Poll{}); !reply.HaltAll || took > 1500*time.Millisecond {
		t.Fatalf("the agent away was told %v after %s", reply.HaltAll, took)
	}
	for _, ag := range []*testAgent{a, told} {
		if reply, _ := ag.poll(protocol.Poll{Wait: protocol.Duration(10 * time.Millisecond)}); reply.HaltAll {
			t.Fatalf("%s told twice", ag.name)
		}
	}
}
