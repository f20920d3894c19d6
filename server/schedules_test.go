package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/server/schedule"
	"github.com/faultline-dev/faultline/store"
)

func TestSchedulesAPI(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "10ms"))
	var sc store.Schedule
	e.do("POST", "/api/v1/schedules", e.runner, map[string]any{
		"name": "nightly", "experiment": name, "spec": map[string]string{"cron": "0 3 * * *"},
	}, http.StatusCreated, &sc)
	if !sc.Enabled || sc.NextRun.Hour() != 3 || time.Until(sc.NextRun) > 24*time.Hour || time.Until(sc.NextRun) <= 0 {
		t.Fatalf("schedule %+v", sc)
	}
	var monkey store.Schedule
	e.do("POST", "/api/v1/schedules", e.runner, map[string]any{
		"name": "monkey", "experiment": name, "enabled": false,
		"agents": map[string]any{"labels": map[string]string{"zone": "a"}, "mode": "one"},
		"spec": map[string]any{"monkey": map[string]any{"meanInterval": "24h", "businessHours": true, "maxPerPeriod": 1,
			"period": "24h", "blackouts": []string{"2026-12-24"}, "timezone": "Europe/Berlin"}},
	}, http.StatusCreated, &monkey)
	var spec schedule.Spec
	if err := json.Unmarshal(monkey.Spec, &spec); err != nil || spec.Monkey == nil || !spec.Monkey.BusinessHours || monkey.Enabled {
		t.Fatalf("monkey %+v", monkey)
	}
	if wd := monkey.NextRun.Weekday(); wd == time.Saturday || wd == time.Sunday {
		t.Fatalf("business-hours monkey due on %s", wd)
	}
	bad := []map[string]any{
		{"name": "x", "experiment": name, "spec": map[string]string{"cron": "every day"}},
		{"name": "x", "experiment": name, "spec": map[string]any{}},
		{"name": "x", "experiment": "nope", "spec": map[string]string{"cron": "@daily"}},
		{"name": "x y", "experiment": name, "spec": map[string]string{"cron": "@daily"}},
		{"name": "x", "experiment": name, "spec": map[string]any{"monkey": map[string]any{"meanInterval": "1h", "windows": []map[string]string{{"start": "18:00", "end": "09:00"}}}}},
	}
	before := e.counts()
	for _, b := range bad {
		e.do("POST", "/api/v1/schedules", e.runner, b, http.StatusBadRequest, nil)
	}
	e.do("POST", "/api/v1/schedules", e.viewer, map[string]any{"name": "x", "experiment": name, "spec": map[string]string{"cron": "@daily"}}, http.StatusForbidden, nil)
	e.do("POST", "/api/v1/schedules", e.runner, map[string]any{"name": "nightly", "experiment": name, "spec": map[string]string{"cron": "@daily"}}, http.StatusConflict, nil)
	if after := e.counts(); after != before {
		t.Fatalf("refused schedules changed the store: %+v → %+v", before, after)
	}

	var list []store.Schedule
	e.do("GET", "/api/v1/schedules", e.viewer, nil, http.StatusOK, &list)
	if len(list) != 2 {
		t.Fatalf("schedules %+v", list)
	}
	var updated store.Schedule
	e.do("PUT", "/api/v1/schedules/"+sc.ID, e.runner, map[string]any{
		"name": "weekly", "experiment": name, "spec": map[string]string{"cron": "0 4 * * 1"},
	}, http.StatusOK, &updated)
	if updated.Name != "weekly" || updated.NextRun.Weekday() != time.Monday || updated.Created != sc.Created {
		t.Fatalf("updated %+v", updated)
	}
	e.do("GET", "/api/v1/schedules/"+sc.ID, e.viewer, nil, http.StatusOK, &updated)
	e.do("DELETE", "/api/v1/schedules/"+sc.ID, e.runner, nil, http.StatusNoContent, nil)
	e.do("GET", "/api/v1/schedules/"+sc.ID, e.viewer, nil, http.StatusNotFound, nil)
}

// The scheduler starts runs when they are due, remembers them, and
// computes the next time.
func TestSchedulerStartsRuns(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "10ms"))
	var sc store.Schedule
	e.do("POST", "/api/v1/schedules", e.runner, map[string]any{
		"name": "often", "experiment": name, "spec": map[string]string{"cron": "@every 1s"},
	}, http.StatusCreated, &sc)
	deadline := time.Now().Add(10 * time.Second)
	var runs []store.Run
	for len(runs) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d scheduled runs in 10s", len(runs))
		}
		time.Sleep(200 * time.Millisecond)
		e.do("GET", "/api/v1/runs?experiment="+name, e.viewer, nil, http.StatusOK, &runs)
	}
	for _, r := range runs {
		if r.Schedule != sc.ID || r.CreatedBy != "schedule often" {
			t.Fatalf("run %+v", r)
		}
		e.waitRun(r.ID, 10*time.Second)
	}
	e.do("GET", "/api/v1/schedules/"+sc.ID, e.viewer, nil, http.StatusOK, &sc)
	if len(sc.History) < 2 || sc.LastRun.IsZero() || !sc.NextRun.After(sc.LastRun) {
		t.Fatalf("schedule after runs %+v", sc)
	}
	var audit []store.AuditEntry
	e.do("GET", "/api/v1/audit?action=schedule.run", e.viewer, nil, http.StatusOK, &audit)
	if len(audit) < 2 || !strings.Contains(string(audit[0].Details), `"run"`) {
		t.Fatalf("audit %+v", audit)
	}
	// Disabled, it starts nothing more.
	e.do("PUT", "/api/v1/schedules/"+sc.ID, e.runner, map[string]any{
		"name": "often", "experiment": name, "enabled": false, "spec": map[string]string{"cron": "@every 1s"},
	}, http.StatusOK, nil)
	e.do("GET", "/api/v1/runs?experiment="+name, e.viewer, nil, http.StatusOK, &runs)
	n := len(runs)
	time.Sleep(2500 * time.Millisecond)
	e.do("GET", "/api/v1/runs?experiment="+name, e.viewer, nil, http.StatusOK, &runs)
	if len(runs) > n+1 { // one may have been due as it was disabled
		t.Fatalf("a disabled schedule started %d runs", len(runs)-n)
	}
}

// A schedule due while the server was down is skipped, not run late.
func TestSchedulerSkipsMissedRuns(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "10ms"))
	spec, _ := json.Marshal(schedule.Spec{Cron: "@daily"})
	due := time.Now().UTC().Add(-time.Hour)
	if err := e.st.CreateSchedule(t.Context(), store.Schedule{ID: "sch-missed", Name: "missed", Experiment: name, Spec: spec,
		Enabled: true, CreatedBy: "test", Created: due, NextRun: due}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var sc store.Schedule
		e.do("GET", "/api/v1/schedules/sch-missed", e.viewer, nil, http.StatusOK, &sc)
		if sc.NextRun.After(time.Now()) {
			if !sc.LastRun.IsZero() {
				t.Fatalf("the missed run was started: %+v", sc)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the missed schedule was not moved on")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var runs []store.Run
	e.do("GET", "/api/v1/runs", e.viewer, nil, http.StatusOK, &runs)
	var audit []store.AuditEntry
	e.do("GET", "/api/v1/audit?action=schedule.missed", e.viewer, nil, http.StatusOK, &audit)
	if len(runs) != 0 || len(audit) != 1 {
		t.Fatalf("runs %+v audit %+v", runs, audit)
	}
}
