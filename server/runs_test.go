package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/store"
)

// A run on the server freezes a real process, streams its events, recovers,
// and leaves a journal and reports to download.
func TestRunOnServerEndToEnd(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, envOptions{dbURL: b.url(t)}).withTokens()
			pid := sleeper(t)
			name := e.createExperiment(document(t, "pause.yaml", "$PID", strconv.Itoa(pid), "$DURATION", "3s"))
			run := e.startRun(startRequest{Experiment: name})
			if run.Status != store.RunRunning || run.Agents != nil {
				t.Fatalf("started %+v", run)
			}
			events := e.stream(run.ID, 0)
			got := events.until(t, "injected", 10*time.Second)
			if !stopped(t, pid) {
				t.Fatal("the sleeper is not stopped while the fault is in place")
			}
			got = append(got, events.until(t, "end", 15*time.Second)...)
			if stopped(t, pid) {
				t.Fatal("the sleeper is still stopped after the run")
			}
			seen := strings.Join(names(got), " ")
			for _, want := range []string{"phase", "injecting", "injected", "sample", "recovered", "verdict", "end"} {
				if !strings.Contains(seen, want) {
					t.Errorf("stream lacks %q: %s", want, seen)
				}
			}
			var last map[string]string
			if err := json.Unmarshal([]byte(got[len(got)-1].data), &last); err != nil || last["status"] != "held" {
				t.Fatalf("end event %q", got[len(got)-1].data)
			}

			v := e.waitRun(run.ID, 5*time.Second)
			if v.Status != store.RunHeld || v.Ended.IsZero() || v.Started.IsZero() {
				t.Fatalf("run %+v", v.Run)
			}
			var j journal.Journal
			e.do("GET", "/api/v1/runs/"+run.ID+"/journal", e.viewer, nil, http.StatusOK, &j)
			if j.Run != run.ID || j.Status != journal.Held || len(j.Targets) != 1 || j.Targets[0].RecoveredAt == nil ||
				!strings.Contains(j.Targets[0].Target, strconv.Itoa(pid)) {
				t.Fatalf("journal %+v", j)
			}
			status, html := e.request("GET", "/api/v1/runs/"+run.ID+"/report", e.viewer, nil)
			if status != 200 || !strings.Contains(string(html), "<html") || !strings.Contains(string(html), "pause-sleeper") {
				t.Fatalf("html report %d", status)
			}
			status, md := e.request("GET", "/api/v1/runs/"+run.ID+"/report?format=md", e.viewer, nil)
			if status != 200 || !strings.Contains(string(md), "pause-sleeper") || strings.Contains(string(md), "<html") {
				t.Fatalf("markdown report %d %s", status, md)
			}
			e.do("GET", "/api/v1/runs/"+run.ID+"/report?format=pdf", e.viewer, nil, http.StatusBadRequest, nil)
			e.hooks.wait(t, "run.started", run.ID, 5*time.Second)

			// The server's ledger holds nothing open.
			open, err := e.ledger.Open(context.Background())
			if err != nil || len(open) != 0 {
				t.Fatalf("ledger open faults %v %v", open, err)
			}
			var runs []store.Run
			e.do("GET", "/api/v1/runs?status=held&experiment="+name+"&since=1h", e.viewer, nil, http.StatusOK, &runs)
			if len(runs) != 1 || runs[0].ID != run.ID {
				t.Fatalf("filtered list %+v", runs)
			}
			e.do("GET", "/api/v1/runs?status=active", e.viewer, nil, http.StatusOK, &runs)
			if len(runs) != 0 {
				t.Fatalf("active runs %+v", runs)
			}
		})
	}
}

// Events arrive while the run goes, and a client that reconnects with
// Last-Event-ID gets only what it missed.
func TestEventStreamIsLiveAndResumes(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "1500ms"))
	run := e.startRun(startRequest{Experiment: name})
	s := e.stream(run.ID, 0)
	first := s.until(t, "step", 5*time.Second)
	if v := e.waitRun(run.ID, 10*time.Second); first[len(first)-1].at.After(v.Ended) {
		t.Fatal("the first event came after the run ended: not live")
	}
	rest := s.until(t, "end", 5*time.Second)
	all := append(first, rest...)
	for i := 1; i < len(all)-1; i++ {
		if all[i].id <= all[i-1].id {
			t.Fatalf("ids not increasing: %d after %d", all[i].id, all[i-1].id)
		}
	}
	// Resume after the first event: everything else, then the end.
	again := e.stream(run.ID, all[0].id).until(t, "end", 5*time.Second)
	if len(again) != len(all)-1 || again[0].id != all[1].id {
		t.Fatalf("resumed stream has %d events from %d; want %d from %d", len(again), again[0].id, len(all)-1, all[1].id)
	}
}

// Halting a run on the server recovers its fault at once.
func TestHaltRunOnServer(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	pid := sleeper(t)
	name := e.createExperiment(document(t, "pause.yaml", "$PID", strconv.Itoa(pid), "$DURATION", "60s"))
	run := e.startRun(startRequest{Experiment: name})
	e.stream(run.ID, 0).until(t, "injected", 10*time.Second)
	if !stopped(t, pid) {
		t.Fatal("not stopped")
	}
	halted := time.Now()
	var r store.Run
	e.do("POST", "/api/v1/runs/"+run.ID+"/halt", e.runner, haltRequest{Reason: "game day over"}, http.StatusAccepted, &r)
	if !r.HaltRequested {
		t.Fatalf("halt answer %+v", r)
	}
	v := e.waitRun(run.ID, 10*time.Second)
	if v.Status != store.RunAborted || !strings.Contains(v.Reason, "halted by runner") || stopped(t, pid) {
		t.Fatalf("after halt: %+v, stopped %v", v.Run, stopped(t, pid))
	}
	if took := time.Since(halted); took > 5*time.Second {
		t.Fatalf("halt took %s", took)
	}
	e.do("POST", "/api/v1/runs/"+run.ID+"/halt", e.runner, nil, http.StatusConflict, nil)
	h := e.hooks.wait(t, "run.halted", run.ID, 5*time.Second)
	if h.Reason != "game day over" {
		t.Fatalf("halt webhook %+v", h)
	}
	e.hooks.wait(t, "run.aborted", run.ID, 5*time.Second)
	var audit []store.AuditEntry
	e.do("GET", "/api/v1/audit?action=run.halt", e.viewer, nil, http.StatusOK, &audit)
	if len(audit) != 1 || audit[0].Object != "run/"+run.ID || !strings.Contains(string(audit[0].Details), "game day over") {
		t.Fatalf("audit %+v", audit)
	}
}

// A run whose hypothesis breaks deviates, and the webhook says so.
func TestDeviationIsNotified(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	pid := sleeper(t)
	name := e.createExperiment(document(t, "deviate.yaml", "$PID", strconv.Itoa(pid)))
	run := e.startRun(startRequest{Experiment: name})
	v := e.waitRun(run.ID, 15*time.Second)
	if v.Status != store.RunDeviated {
		t.Fatalf("run %+v", v.Run)
	}
	h := e.hooks.wait(t, "run.deviated", run.ID, 5*time.Second)
	if !strings.Contains(h.Text, "DEVIATED") || h.Status != "deviated" || h.Reason == "" {
		t.Fatalf("webhook %+v", h)
	}
	e.do("GET", "/api/v1/runs/"+run.ID+"/journal", e.viewer, nil, http.StatusOK, nil)
}

// A dry run resolves targets and injects nothing.
func TestDryRunOnServer(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	pid := sleeper(t)
	name := e.createExperiment(document(t, "pause.yaml", "$PID", strconv.Itoa(pid), "$DURATION", "5s"))
	run := e.startRun(startRequest{Experiment: name, DryRun: true})
	v := e.waitRun(run.ID, 10*time.Second)
	if v.Status != store.RunHeld || !v.DryRun || !strings.Contains(v.Reason, "dry run") {
		t.Fatalf("dry run %+v", v.Run)
	}
	e.do("GET", "/api/v1/runs/"+run.ID+"/journal", e.viewer, nil, http.StatusOK, nil)
}

// A stopping server starts no run on itself, and stores nothing for it.
func TestNoRunStartsWhileStopping(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "10ms"))
	if err := e.srv.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := e.counts()
	e.do("POST", "/api/v1/runs", e.runner, startRequest{Experiment: name}, http.StatusServiceUnavailable, nil)
	if after := e.counts(); after != before {
		t.Fatalf("the store changed: %+v → %+v", before, after)
	}
}
