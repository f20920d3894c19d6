package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/agent"
	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/store"
)

// seriesMeta is what a chart needs of a series besides its samples.
type seriesMeta struct{ Kind, Measure, Unit, Tolerance string }

// TestAgentSeriesMatchLocal runs one experiment on the server and on a
// real agent (package agent, over HTTP): the samples streamed live and the
// journal's series carry the same measure, unit and tolerance either way,
// so the dashboard draws the same tolerance line.
func TestAgentSeriesMatchLocal(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(page.Close)
	e := newEnv(t, envOptions{pollWait: 300 * time.Millisecond, lease: 5 * time.Second}).withTokens()
	name := e.createExperiment(document(t, "measured.yaml", "$URL", page.URL))
	const check = "the page answers fast"
	want := seriesMeta{Kind: "hypothesis", Measure: "latency", Unit: "s", Tolerance: "< 2s"}

	local := e.startRun(startRequest{Experiment: name})
	if v := e.waitRun(local.ID, 30*time.Second); v.Status != store.RunHeld {
		t.Fatalf("the local run %s: %s", v.Status, v.Reason)
	}

	ctx, stop := context.WithCancel(context.Background())
	a, err := agent.New(agent.Config{Server: e.url, Token: e.agentToken("real-1"), Name: "real-1", StateDir: t.TempDir(),
		Features: []string{}, Logger: slog.New(slog.NewTextHandler(e.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	var remote store.Run
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, body := e.request("POST", "/api/v1/runs", e.runner, startRequest{Experiment: name, Agents: &store.AgentSelector{Mode: "all"}})
		if status == http.StatusCreated {
			if err := json.Unmarshal(body, &remote); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run on the agent: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond) // until the agent has registered
	}
	if v := e.waitRun(remote.ID, 30*time.Second); v.Status != store.RunHeld {
		t.Fatalf("the run on the agent %s: %s", v.Status, v.Reason)
	}

	for _, tc := range []struct {
		name, run, check string
	}{
		{"local", local.ID, check},
		{"agent", remote.ID, "real-1/" + check},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, err := e.st.RunEvents(t.Context(), tc.run, 0, 10000)
			if err != nil {
				t.Fatal(err)
			}
			samples := 0
			for _, ev := range events {
				var smp sampleEvent
				if json.Unmarshal(ev.Event, &smp) != nil || smp.Type != "sample" {
					continue
				}
				samples++
				if got := (seriesMeta{smp.Kind, smp.Measure, smp.Unit, smp.Tolerance}); smp.Check != check || got != want {
					t.Fatalf("streamed sample of %q: %+v, want %+v", smp.Check, got, want)
				}
			}
			if samples == 0 {
				t.Fatal("no sample streamed")
			}
			var j journal.Journal
			e.do("GET", "/api/v1/runs/"+tc.run+"/journal", e.viewer, nil, http.StatusOK, &j)
			if len(j.Checks) != 1 {
				t.Fatalf("journal series %+v", j.Checks)
			}
			s := j.Checks[0]
			if got := (seriesMeta{s.Kind, s.Measure, s.Unit, s.Tolerance}); s.Check != tc.check || got != want || len(s.Samples) == 0 {
				t.Fatalf("journal series %q: %+v with %d samples, want %+v", s.Check, got, len(s.Samples), want)
			}
		})
	}
}
