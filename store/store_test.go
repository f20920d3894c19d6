package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/faultline-dev/faultline/store"
	"github.com/faultline-dev/faultline/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

// backends opens a fresh store of each kind: SQLite in a temporary
// directory, and a new database on a real PostgreSQL.
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store {
		return open(t, store.DefaultURL(t.TempDir()))
	}},
	{"postgres", func(t *testing.T) store.Store {
		return open(t, pgtest.URL(t))
	}},
}

func open(t *testing.T, url string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// forEach runs test against every backend.
func forEach(t *testing.T, test func(t *testing.T, s store.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.open(t)) })
	}
}

// must returns v, or panics (failing the test with a stack) on err.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

var ctx = context.Background()

func TestExperiments(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store) {
		v1 := must(s.CreateExperiment(ctx, "pause", "doc v1", "alice"))
		if v1.Version != 1 {
			t.Fatalf("first version %d", v1.Version)
		}
		_, err := s.CreateExperiment(ctx, "pause", "again", "bob")
		wantErr(t, err, store.ErrExists)
		v2 := must(s.AddExperimentVersion(ctx, "pause", "doc v2", "bob"))
		if v2.Version != 2 {
			t.Fatalf("second version %d", v2.Version)
		}
		_, err = s.AddExperimentVersion(ctx, "nope", "doc", "bob")
		wantErr(t, err, store.ErrNotFound)

		e := must(s.Experiment(ctx, "pause"))
		if e.CurrentVersion != 2 || e.Updated.Before(e.Created) {
			t.Fatalf("experiment %+v", e)
		}
		got := must(s.ExperimentVersion(ctx, "pause", 1))
		if got.Document != "doc v1" || got.CreatedBy != "alice" {
			t.Fatalf("version 1 %+v", got)
		}
		vs := must(s.ExperimentVersions(ctx, "pause"))
		if len(vs) != 2 || vs[0].Version != 2 || vs[1].CreatedBy != "alice" {
			t.Fatalf("versions %+v", vs)
		}
		must(s.CreateExperiment(ctx, "kill", "k", "alice"))
		list := must(s.Experiments(ctx))
		if len(list) != 2 || list[0].Name != "kill" {
			t.Fatalf("list %+v", list)
		}
		ok(t, s.DeleteExperiment(ctx, "pause"))
		wantErr(t, s.DeleteExperiment(ctx, "pause"), store.ErrNotFound)
		_, err = s.ExperimentVersion(ctx, "pause", 1)
		wantErr(t, err, store.ErrNotFound)
		_, err = s.ExperimentVersions(ctx, "pause")
		wantErr(t, err, store.ErrNotFound)
		// The name can be used again, from version 1.
		if v := must(s.CreateExperiment(ctx, "pause", "new", "carol")); v.Version != 1 {
			t.Fatalf("recreated version %d", v.Version)
		}
	})
}

func newRun(id string, created time.Time) store.Run {
	return store.Run{ID: id, Experiment: "pause", Version: 1, Document: "doc", Status: store.RunPending,
		CreatedBy: "alice", Created: created}
}

func TestRuns(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store) {
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		seed := int64(7)
		r1 := newRun("r1", t0)
		r1.Agents = &store.AgentSelector{Labels: map[string]string{"zone": "a"}, Mode: "percent:50", Seed: &seed}
		ok(t, s.CreateRun(ctx, r1))
		wantErr(t, s.CreateRun(ctx, r1), store.ErrExists)
		r2 := newRun("r2", t0.Add(time.Hour))
		r2.Experiment = "kill"
		ok(t, s.CreateRun(ctx, r2))

		got := must(s.Run(ctx, "r1"))
		if got.Agents == nil || got.Agents.Mode != "percent:50" || *got.Agents.Seed != 7 || got.Agents.Labels["zone"] != "a" {
			t.Fatalf("agents selector %+v", got.Agents)
		}
		if !got.Created.Equal(t0) || !got.Started.IsZero() || got.Journal != nil {
			t.Fatalf("run %+v", got)
		}
		if r := must(s.Run(ctx, "r2")); r.Agents != nil {
			t.Fatalf("server-side run has agents %+v", r.Agents)
		}
		_, err := s.Run(ctx, "r3")
		wantErr(t, err, store.ErrNotFound)

		got.Status, got.Reason, got.Started, got.Ended = store.RunHeld, "fine", t0.Add(time.Second), t0.Add(time.Minute)
		got.Journal = json.RawMessage(`{"status":"held"}`)
		ok(t, s.UpdateRun(ctx, got))
		back := must(s.Run(ctx, "r1"))
		if back.Status != store.RunHeld || !back.Ended.Equal(t0.Add(time.Minute)) || string(back.Journal) != `{"status":"held"}` {
			t.Fatalf("updated run %+v %s", back, back.Journal)
		}
		wantErr(t, s.UpdateRun(ctx, newRun("zz", t0)), store.ErrNotFound)

		tests := []struct {
			name string
			f    store.RunFilter
			want []string
		}{
			{"all, newest first", store.RunFilter{}, []string{"r2", "r1"}},
			{"by status", store.RunFilter{Status: []store.RunStatus{store.RunPending, store.RunRunning}}, []string{"r2"}},
			{"by experiment", store.RunFilter{Experiment: "pause"}, []string{"r1"}},
			{"since", store.RunFilter{Since: t0.Add(time.Minute)}, []string{"r2"}},
			{"limit", store.RunFilter{Limit: 1}, []string{"r2"}},
			{"nothing", store.RunFilter{Experiment: "none"}, []string{}},
		}
		for _, tt := range tests {
			runs := must(s.Runs(ctx, tt.f))
			ids := []string{}
			for _, r := range runs {
				ids = append(ids, r.ID)
				if r.Document != "" || r.Journal != nil {
					t.Errorf("%s: list carries document or journal", tt.name)
				}
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, ids, tt.want)
			}
		}
	})
}

func TestRunEventsDeduplicated(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store) {
		ok(t, s.CreateRun(ctx, newRun("r1", time.Now())))
		ev := func(agent string, seq int64) store.RunEvent {
			return store.RunEvent{Run: "r1", Agent: agent, Seq: seq, Event: json.RawMessage(fmt.Sprintf(`{"type":"phase","n":%d}`, seq))}
		}
		if n := must(s.AppendRunEvents(ctx, []store.RunEvent{ev("a", 1), ev("a", 2), ev("b", 1)})); n != 3 {
			t.Fatalf("added %d", n)
		}
		// An agent resending after a failed poll: only the new one is kept.
		if n := must(s.AppendRunEvents(ctx, []store.RunEvent{ev("a", 2), ev("a", 3), ev("b", 1)})); n != 1 {
			t.Fatalf("added %d on resend", n)
		}
		all := must(s.RunEvents(ctx, "r1", 0, 0))
		if len(all) != 4 {
			t.Fatalf("%d events", len(all))
		}
		want := []string{"a1", "a2", "b1", "a3"}
		for i, e := range all {
			if got := fmt.Sprintf("%s%d", e.Agent, e.Seq); got != want[i] {
				t.Errorf("event %d is %s, want %s", i, got, want[i])
			}
			if i > 0 && e.ID <= all[i-1].ID {
				t.Errorf("ids not increasing")
			}
		}
		var decoded struct{ N int }
		ok(t, json.Unmarshal(all[3].Event, &decoded))
		if decoded.N != 3 {
			t.Fatalf("event body %s", all[3].Event)
		}
		after := must(s.RunEvents(ctx, "r1", all[1].ID, 1))
		if len(after) != 1 || after[0].ID != all[2].ID {
			t.Fatalf("paging after %d: %+v", all[1].ID, after)
		}
	})
}

func TestAgents(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store) {
		t0 := time.Now().UTC().Truncate(time.Millisecond)
		a := must(s.RegisterAgent(ctx, store.Agent{ID: "ag1", Name: "web-1", Hostname: "web-1.local",
			Labels: map[string]string{"zone": "a"}, Features: []string{"root"}, Version: "1.0", LastSeen: t0, LeaseUntil: t0.Add(30 * time.Second)}))
		if a.ID != "ag1" || a.Status != store.AgentOnline || a.Registered.IsZero() {
			t.Fatalf("registered %+v", a)
		}
		ok(t, s.SetAgentLabels(ctx, "ag1", map[string]string{"zone": "b", "team": "x"}))
		// Registering again under the same name keeps the id and the
		// operators' labels.
		again := must(s.RegisterAgent(ctx, store.Agent{ID: "other", Name: "web-1", Hostname: "web-1.local",
			Labels: map[string]string{"zone": "a", "role": "db"}, Version: "1.1", LastSeen: t0, LeaseUntil: t0.Add(30 * time.Second)}))
		if again.ID != "ag1" || again.ExtraLabels["team"] != "x" {
			t.Fatalf("re-registered %+v", again)
		}
		got := must(s.Agent(ctx, "ag1"))
		eff := got.EffectiveLabels()
		if eff["zone"] != "b" || eff["role"] != "db" || eff["team"] != "x" || got.Version != "1.1" {
			t.Fatalf("agent %+v labels %v", got, eff)
		}
		_, err := s.Agent(ctx, "nope")
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, s.SetAgentLabels(ctx, "nope", nil), store.ErrNotFound)

		must(s.RegisterAgent(ctx, store.Agent{ID: "ag2", Name: "web-2", LastSeen: t0, LeaseUntil: t0.Add(time.Second)}))
		ok(t, s.Heartbeat(ctx, store.Heartbeat{Agent: "ag1", At: t0.Add(5 * time.Second), LeaseUntil: t0.Add(time.Minute),
			Labels: map[string]string{"zone": "c"}}))
		wantErr(t, s.Heartbeat(ctx, store.Heartbeat{Agent: "nope", At: t0, LeaseUntil: t0}), store.ErrNotFound)
		lost := must(s.MarkAgentsLost(ctx, t0.Add(10*time.Second)))
		if !slices.Equal(lost, []string{"ag2"}) {
			t.Fatalf("lost %v", lost)
		}
		if again := must(s.MarkAgentsLost(ctx, t0.Add(10*time.Second))); len(again) != 0 {
			t.Fatalf("lost twice: %v", again)
		}
		list := must(s.Agents(ctx))
		if len(list) != 2 || list[0].Labels["zone"] != "c" || list[1].Status != store.AgentLost {
			t.Fatalf("agents %+v", list)
		}
		// A lost agent that polls again is back online.
		ok(t, s.Heartbeat(ctx, store.Heartbeat{Agent: "ag2", At: t0.Add(11 * time.Second), LeaseUntil: t0.Add(41 * time.Second)}))
		if a := must(s.Agent(ctx, "ag2")); a.Status != store.AgentOnline || len(a.Labels) != 0 {
			t.Fatalf("agent back %+v", a)
		}
		ok(t, s.ExtendLeases(ctx, t0.Add(time.Hour)))
		for _, a := range must(s.Agents(ctx)) {
			if !a.LeaseUntil.Equal(t0.Add(time.Hour)) {
				t.Fatalf("lease of %s not extended: %v", a.ID, a.LeaseUntil)
			}
		}

		faults := []store.AgentFault{
			{ID: "f1", Kind: "process.pause", Target: "pid 10", Run: "r1", Since: t0},
			{ID: "f2", Kind: "stress.cpu", Target: "host", Since: t0.Add(time.Second)},
		}
		ok(t, s.SetAgentFaults(ctx, "ag1", faults))
		ok(t, s.SetAgentFaults(ctx, "ag2", faults[:1]))
		if f := must(s.AgentFaults(ctx, "ag1")); len(f) != 2 || f[0].ID != "f1" || f[0].Agent != "ag1" || f[0].Run != "r1" {
			t.Fatalf("faults %+v", f)
		}
		if f := must(s.AgentFaults(ctx, "")); len(f) != 3 {
			t.Fatalf("all faults %+v", f)
		}
		ok(t, s.SetAgentFaults(ctx, "ag1", faults[1:])) // one recovered
		if f := must(s.AgentFaults(ctx, "ag1")); len(f) != 1 || f[0].ID != "f2" {
			t.Fatalf("faults after one recovered %+v", f)
		}
		ok(t, s.SetAgentFaults(ctx, "ag1", nil))
		if f := must(s.AgentFaults(ctx, "ag1")); len(f) != 0 {
			t.Fatalf("faults after clearing %+v", f)
		}

		if ids := must(s.RequestHaltAll(ctx)); !slices.Equal(sorted(ids), []string{"ag1", "ag2"}) {
			t.Fatalf("flagged %v", ids)
		}
		if ids := must(s.HaltAllPending(ctx)); !slices.Equal(ids, []string{"ag1", "ag2"}) {
			t.Fatalf("pending %v", ids)
		}
		ok(t, s.ClearHaltAll(ctx, []string{"ag1"}))
		ok(t, s.ClearHaltAll(ctx, nil))
		if ids := must(s.HaltAllPending(ctx)); !slices.Equal(ids, []string{"ag2"}) {
			t.Fatalf("pending after clearing ag1: %v", ids)
		}
	})
}

func TestAssignments(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store) {
		t0 := time.Now().UTC()
		ok(t, s.CreateRun(ctx, newRun("r1", t0)))
		must(s.RegisterAgent(ctx, store.Agent{ID: "ag1", Name: "a", LeaseUntil: t0}))
		must(s.RegisterAgent(ctx, store.Agent{ID: "ag2", Name: "b", LeaseUntil: t0}))
		for i, ag := range []string{"ag1", "ag2"} {
			ok(t, s.CreateAssignment(ctx, store.Assignment{ID: fmt.Sprintf("as%d", i+1), Run: "r1", Agent: ag,
				State: store.AssignmentPending, Created: t0.Add(time.Duration(i)), Updated: t0}))
		}
		wantErr(t, s.CreateAssignment(ctx, store.Assignment{ID: "as1", Run: "r1", Agent: "ag1", State: store.AssignmentPending, Created: t0, Updated: t0}), store.ErrExists)
		a := must(s.Assignment(ctx, "as1"))
		a.State, a.Journal = store.AssignmentDone, json.RawMessage(`{"status":"held"}`)
		ok(t, s.UpdateAssignment(ctx, a))
		if back := must(s.Assignment(ctx, "as1")); back.State != store.AssignmentDone || string(back.Journal) != `{"status":"held"}` {
			t.Fatalf("assignment %+v", back)
		}
		tests := []struct {
			f    store.AssignmentFilter
			want []string
		}{
			{store.AssignmentFilter{Run: "r1"}, []string{"as1", "as2"}},
			{store.AssignmentFilter{Agent: "ag2"}, []string{"as2"}},
			{store.AssignmentFilter{Agent: "ag1", States: []store.AssignmentState{store.AssignmentPending}}, []string{}},
			{store.AssignmentFilter{States: []store.AssignmentState{store.AssignmentDone, store.AssignmentLost}}, []string{"as1"}},
		}
		for _, tt := range tests {
			var ids []string
			for _, a := range must(s.Assignments(ctx, tt.f)) {
				ids = append(ids, a.ID)
			}
			if !slices.Equal(ids, tt.want) && !(len(ids) == 0 && len(tt.want) == 0) {
				t.Errorf("%+v: %v, want %v", tt.f, ids, tt.want)
			}
		}
		wantErr(t, s.UpdateAssignment(ctx, store.Assignment{ID: "nope"}), store.ErrNotFound)
	})
}

func TestSchedulesTokensWebhooksAudit(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store) {
		t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
		sc := store.Schedule{ID: "s1", Name: "nightly", Experiment: "pause", Spec: json.RawMessage(`{"cron":"0 3 * * *"}`),
			Enabled: true, CreatedBy: "alice", Created: t0, NextRun: t0.Add(18 * time.Hour)}
		ok(t, s.CreateSchedule(ctx, sc))
		sc.ID = "s2"
		wantErr(t, s.CreateSchedule(ctx, sc), store.ErrExists)
		got := must(s.Schedule(ctx, "s1"))
		if got.Name != "nightly" || !got.NextRun.Equal(t0.Add(18*time.Hour)) || !got.LastRun.IsZero() || len(got.History) != 0 {
			t.Fatalf("schedule %+v", got)
		}
		got.History = []time.Time{t0, t0.Add(time.Hour)}
		got.LastRun, got.Enabled = t0.Add(time.Hour), false
		ok(t, s.UpdateSchedule(ctx, got))
		back := must(s.Schedules(ctx))
		if len(back) != 1 || len(back[0].History) != 2 || back[0].Enabled || !back[0].History[1].Equal(t0.Add(time.Hour)) {
			t.Fatalf("schedules %+v", back)
		}
		ok(t, s.DeleteSchedule(ctx, "s1"))
		wantErr(t, s.DeleteSchedule(ctx, "s1"), store.ErrNotFound)

		if n := must(s.CountTokens(ctx)); n != 0 {
			t.Fatalf("%d tokens", n)
		}
		tok := store.Token{ID: "t1", Name: "ci", Role: "runner", Hash: "abc", CreatedBy: "admin", Created: t0, Expires: t0.Add(time.Hour)}
		ok(t, s.CreateToken(ctx, tok))
		found := must(s.TokenByHash(ctx, "abc"))
		if found.ID != "t1" || !found.Expires.Equal(t0.Add(time.Hour)) || !found.Revoked.IsZero() {
			t.Fatalf("token %+v", found)
		}
		_, err := s.TokenByHash(ctx, "nope")
		wantErr(t, err, store.ErrNotFound)
		ok(t, s.RevokeToken(ctx, "t1", t0.Add(time.Minute)))
		wantErr(t, s.RevokeToken(ctx, "t1", t0), store.ErrNotFound) // already revoked
		ok(t, s.CreateToken(ctx, store.Token{ID: "t2", Name: "db-1", Role: "agent", Agent: "db-1.zone-a", Hash: "def", CreatedBy: "admin", Created: t0.Add(time.Second)}))
		if found := must(s.TokenByHash(ctx, "def")); found.Agent != "db-1.zone-a" {
			t.Fatalf("agent token %+v", found)
		}
		if l := must(s.Tokens(ctx)); len(l) != 2 || !l[0].Revoked.Equal(t0.Add(time.Minute)) || l[0].Agent != "" || l[1].Agent != "db-1.zone-a" {
			t.Fatalf("tokens %+v", l)
		}

		ok(t, s.CreateWebhook(ctx, store.Webhook{ID: "w1", URL: "http://127.0.0.1:1/hook", Events: []string{"run.started"}, CreatedBy: "admin", Created: t0}))
		if w := must(s.Webhooks(ctx)); len(w) != 1 || w[0].Events[0] != "run.started" {
			t.Fatalf("webhooks %+v", w)
		}
		ok(t, s.DeleteWebhook(ctx, "w1"))
		wantErr(t, s.DeleteWebhook(ctx, "w1"), store.ErrNotFound)

		for i, action := range []string{"experiment.create", "run.start", "run.halt"} {
			ok(t, s.AddAudit(ctx, store.AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Actor: "alice", Action: action,
				Object: "x", Details: json.RawMessage(`{"i":1}`)}))
		}
		ok(t, s.AddAudit(ctx, store.AuditEntry{At: t0.Add(time.Hour), Actor: "bob", Action: "run.start", Object: "y"}))
		tests := []struct {
			f    store.AuditFilter
			want []string
		}{
			{store.AuditFilter{}, []string{"run.start", "run.halt", "run.start", "experiment.create"}},
			{store.AuditFilter{Actor: "bob"}, []string{"run.start"}},
			{store.AuditFilter{Action: "run.start"}, []string{"run.start", "run.start"}},
			{store.AuditFilter{Since: t0.Add(90 * time.Second)}, []string{"run.start", "run.halt"}},
			{store.AuditFilter{Limit: 1}, []string{"run.start"}},
		}
		for _, tt := range tests {
			var got []string
			for _, e := range must(s.Audit(ctx, tt.f)) {
				got = append(got, e.Action)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%+v: %v, want %v", tt.f, got, tt.want)
			}
		}
		all := must(s.Audit(ctx, store.AuditFilter{}))
		page := must(s.Audit(ctx, store.AuditFilter{Before: all[1].ID}))
		if len(page) != 2 || page[0].ID != all[2].ID || string(page[1].Details) != `{"i":1}` {
			t.Fatalf("page %+v", page)
		}
	})
}

func TestUpdateIsAtomic(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store) {
		boom := errors.New("boom")
		err := s.Update(ctx, func(tx store.Store) error {
			if _, err := tx.CreateExperiment(ctx, "x", "doc", "alice"); err != nil {
				return err
			}
			// Nested Update joins the same transaction.
			if err := tx.Update(ctx, func(tx store.Store) error {
				return tx.AddAudit(ctx, store.AuditEntry{Actor: "alice", Action: "experiment.create", Object: "x"})
			}); err != nil {
				return err
			}
			if _, err := tx.Experiment(ctx, "x"); err != nil {
				t.Errorf("a transaction sees its own writes: %v", err)
			}
			return boom
		})
		wantErr(t, err, boom)
		_, err = s.Experiment(ctx, "x")
		wantErr(t, err, store.ErrNotFound)
		if a := must(s.Audit(ctx, store.AuditFilter{})); len(a) != 0 {
			t.Fatalf("audit kept after rollback: %+v", a)
		}
		ok(t, s.Update(ctx, func(tx store.Store) error {
			_, err := tx.CreateExperiment(ctx, "x", "doc", "alice")
			return err
		}))
		must(s.Experiment(ctx, "x"))
	})
}

// Many writers at once: no "database is locked", nothing lost.
func TestConcurrentWriters(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store) {
		ok(t, s.CreateRun(ctx, newRun("r1", time.Now())))
		const writers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					ev := store.RunEvent{Run: "r1", Agent: fmt.Sprint(w), Seq: int64(i), Event: json.RawMessage(`{}`)}
					if _, err := s.AppendRunEvents(ctx, []store.RunEvent{ev}); err != nil {
						errs <- err
						return
					}
					if _, err := s.Runs(ctx, store.RunFilter{}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := len(must(s.RunEvents(ctx, "r1", 0, 10000))); n != writers*each {
			t.Fatalf("%d events stored, want %d", n, writers*each)
		}
	})
}

// A SQLite store reopened from its file has everything, and migrating again
// is a no-op.
func TestSQLiteReopen(t *testing.T) {
	dir := t.TempDir()
	url := store.DefaultURL(dir)
	s := must(store.Open(ctx, url, nil))
	must(s.CreateExperiment(ctx, "x", "doc", "alice"))
	ok(t, s.Close())
	st, err := os.Stat(filepath.Join(dir, "server.db"))
	ok(t, err)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("database file mode %v, want 0600", st.Mode().Perm())
	}
	s = open(t, url)
	if e := must(s.Experiment(ctx, "x")); e.CurrentVersion != 1 {
		t.Fatalf("after reopen %+v", e)
	}
	if s.Dialect() != "sqlite" {
		t.Fatalf("dialect %q", s.Dialect())
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	tests := []string{"server.db", "mysql://x/y", "sqlite://"}
	for _, u := range tests {
		if s, err := store.Open(ctx, u, nil); err == nil {
			s.Close()
			t.Errorf("%q: no error", u)
		}
	}
	_, err := store.Open(ctx, "postgres://user:secret@127.0.0.1:1/db?connect_timeout=1", nil)
	if err == nil {
		t.Fatal("no error for an unreachable PostgreSQL")
	}
	if msg := err.Error(); strings.Contains(msg, "secret") {
		t.Fatalf("the password leaks into the error: %s", msg)
	}
}

// Agent tokens made before tokens were bound to agents are bound by the
// migration to the one name each registered, as the audit log says; a
// token shared by several agents, or never used, stays unbound.
func TestTokenAgentMigration(t *testing.T) {
	for _, b := range []struct {
		name, driver string
		dialect      goose.Dialect
		url          func(t *testing.T) string
		dsn          func(url string) string
	}{
		{"sqlite", "sqlite", goose.DialectSQLite3, func(t *testing.T) string { return store.DefaultURL(t.TempDir()) },
			func(url string) string { return strings.TrimPrefix(url, "sqlite://") }},
		{"postgres", "pgx", goose.DialectPostgres, func(t *testing.T) string { return pgtest.URL(t) }, func(url string) string { return url }},
	} {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			db, err := sql.Open(b.driver, b.dsn(url))
			ok(t, err)
			defer db.Close()
			p, err := goose.NewProvider(b.dialect, db, os.DirFS(filepath.Join("migrations", b.name)))
			ok(t, err)
			_, err = p.UpTo(ctx, 1)
			ok(t, err)
			const at = "2026-05-04T09:00:00.000000Z"
			for _, tk := range [][3]string{{"t-one", "one", "agent"}, {"t-shared", "shared", "agent"}, {"t-none", "none", "agent"}, {"t-admin", "admin", "admin"}} {
				_, err := db.ExecContext(ctx, rebind(b.name, `INSERT INTO tokens (id, name, role, hash, created_by, created_at) VALUES (?, ?, ?, ?, 'server', ?)`),
					tk[0], tk[1], tk[2], "hash-"+tk[0], at)
				ok(t, err)
			}
			for _, a := range [][3]string{
				{"one (t-one)", "agent.register", "agent/web-1"}, {"one (t-one)", "agent.register", "agent/web-1"},
				{"one (t-one)", "agent.recovered", "fault/f1"},
				{"shared (t-shared)", "agent.register", "agent/web-2"}, {"shared (t-shared)", "agent.register", "agent/web-3"},
				{"admin (t-admin)", "agent.register", "agent/web-4"},
			} {
				_, err := db.ExecContext(ctx, rebind(b.name, `INSERT INTO audit (at, actor, action, object, details) VALUES (?, ?, ?, ?, '{}')`),
					at, a[0], a[1], a[2])
				ok(t, err)
			}
			s := open(t, url)
			for hash, want := range map[string]string{"hash-t-one": "web-1", "hash-t-shared": "", "hash-t-none": "", "hash-t-admin": ""} {
				if got := must(s.TokenByHash(ctx, hash)); got.Agent != want {
					t.Errorf("%s: bound to %q, want %q", got.Name, got.Agent, want)
				}
			}
		})
	}
}

// rebind writes ? placeholders as PostgreSQL's $1, $2, … when needed.
func rebind(dialect, query string) string {
	if dialect != "postgres" {
		return query
	}
	for n := 1; strings.Contains(query, "?"); n++ {
		query = strings.Replace(query, "?", fmt.Sprintf("$%d", n), 1)
	}
	return query
}
