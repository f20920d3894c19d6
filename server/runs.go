package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/engine"
	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/report"
	"github.com/faultline-dev/faultline/server/webhook"
	"github.com/faultline-dev/faultline/store"
	"github.com/faultline-dev/faultline/target"
)

// startRequest asks for a run of an experiment version (default: the
// current one), on the server or on agents.
type startRequest struct {
	Experiment string               `json:"experiment"`
	Version    int                  `json:"version,omitempty"`
	Agents     *store.AgentSelector `json:"agents,omitempty"`
	DryRun     bool                 `json:"dryRun,omitempty"`
}

// runView is a run with its assignments.
type runView struct {
	store.Run
	Assignments []store.Assignment `json:"assignments,omitempty"`
}

// newID makes a random id with a prefix ("ag-3f9c…").
func newID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func (s *Server) startRun(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req startRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Experiment == "" {
		return errorf(http.StatusBadRequest, "experiment is missing: name the experiment to run")
	}
	run, err := s.launch(r.Context(), req, c.actor(), "")
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/runs/"+run.ID)
	writeJSON(w, http.StatusCreated, run)
	return nil
}

// launch starts a run for an actor (a caller, or a schedule): it
// validates the document again, then executes it on the server, or
// assigns it to the agents the selector picks.
func (s *Server) launch(ctx context.Context, req startRequest, actor, schedule string) (store.Run, error) {
	if req.Version < 0 {
		return store.Run{}, errorf(http.StatusBadRequest, "version must be 1 or more")
	}
	version := req.Version
	if version == 0 {
		e, err := s.st.Experiment(ctx, req.Experiment)
		if err != nil {
			return store.Run{}, err
		}
		version = e.CurrentVersion
	}
	v, err := s.st.ExperimentVersion(ctx, req.Experiment, version)
	if err != nil {
		return store.Run{}, err
	}
	x, res := s.parse(v.Document)
	if !res.Valid {
		return store.Run{}, &apiError{Status: http.StatusUnprocessableEntity,
			Message: fmt.Sprintf("version %d of %s no longer validates on this server", version, req.Experiment), Errors: res.Errors}
	}
	now := utcNow()
	run := store.Run{
		ID: engine.NewRunID(), Experiment: req.Experiment, Version: version, Document: v.Document,
		DryRun: req.DryRun, Agents: req.Agents, Schedule: schedule, CreatedBy: actor, Created: now,
	}
	if req.Agents == nil {
		if err := s.reserve(); err != nil {
			return store.Run{}, err
		}
		run.Status, run.Started = store.RunRunning, now
		err = s.st.Update(ctx, func(tx store.Store) error {
			if err := tx.CreateRun(ctx, run); err != nil {
				return err
			}
			return audit(ctx, tx, actor, "run.start", "run/"+run.ID, map[string]any{"experiment": run.Experiment, "version": version, "dryRun": run.DryRun, "on": "server"})
		})
		if err != nil {
			s.release()
			return store.Run{}, err
		}
		s.execute(run, x)
	} else {
		if run, err = s.assign(ctx, run, actor); err != nil {
			return store.Run{}, err
		}
	}
	s.notify.Notify(webhook.Event{Kind: webhook.RunStarted, Run: run.ID, Experiment: run.Experiment, Actor: actor,
		Text: fmt.Sprintf("faultline: %s started run %s of %s (version %d)%s", actor, run.ID, run.Experiment, version, where(run))})
	return run, nil
}

func where(run store.Run) string {
	if run.Agents == nil {
		return " on the server"
	}
	return " on agents " + describeSelector(run.Agents)
}

func describeSelector(sel *store.AgentSelector) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(sel.Labels)) {
		parts = append(parts, k+"="+sel.Labels[k])
	}
	mode := sel.Mode
	if mode == "" {
		mode = "all"
	}
	return "{" + strings.Join(parts, ",") + "} " + mode
}

// assign picks the online agents the selector matches and gives each an
// assignment they get on their next poll.
func (s *Server) assign(ctx context.Context, run store.Run, actor string) (store.Run, error) {
	sel := run.Agents
	if sel.Mode == "" {
		sel.Mode = "all"
	}
	mode, err := experiment.ParseMode(sel.Mode)
	if err != nil {
		return run, errorf(http.StatusBadRequest, "agents.mode: %v", err)
	}
	run.Status = store.RunPending
	var picked []string
	err = s.st.Update(ctx, func(tx store.Store) error {
		agents, err := tx.Agents(ctx)
		if err != nil {
			return err
		}
		// The pick reuses the blast-radius modes of process targets: each
		// matching agent is a target.
		var matches []target.Target
		for _, a := range agents {
			if a.Status == store.AgentOnline && hasLabels(a.EffectiveLabels(), sel.Labels) {
				matches = append(matches, target.Target{Type: "agent", Host: a.ID, Name: a.Name})
			}
		}
		if len(matches) == 0 {
			return errorf(http.StatusConflict, "no online agent has the labels %s", describeSelector(sel))
		}
		if err := tx.CreateRun(ctx, run); err != nil {
			return err
		}
		var names []string
		for _, t := range target.Pick(matches, mode, 0, sel.Seed) {
			a := store.Assignment{ID: newID("as"), Run: run.ID, Agent: t.Host, State: store.AssignmentPending, Created: run.Created, Updated: run.Created}
			if err := tx.CreateAssignment(ctx, a); err != nil {
				return err
			}
			picked = append(picked, t.Host)
			names = append(names, t.Name)
		}
		return audit(ctx, tx, actor, "run.start", "run/"+run.ID, map[string]any{
			"experiment": run.Experiment, "version": run.Version, "dryRun": run.DryRun, "on": "agents",
			"selector": sel, "agents": names, "matched": len(matches),
		})
	})
	if err != nil {
		return run, err
	}
	s.hub.wakeAgents(picked...)
	return run, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, _ *caller) error {
	q := r.URL.Query()
	f := store.RunFilter{Experiment: q.Get("experiment")}
	for _, st := range strings.FieldsFunc(q.Get("status"), func(r rune) bool { return r == ',' }) {
		status := store.RunStatus(st)
		switch status {
		case store.RunPending, store.RunRunning, store.RunHeld, store.RunDeviated, store.RunAborted, store.RunInvalid:
		case "active":
			f.Status = append(f.Status, store.RunPending, store.RunRunning)
			continue
		default:
			return errorf(http.StatusBadRequest, "status %q: use active, pending, running, held, deviated, aborted or invalid", st)
		}
		f.Status = append(f.Status, status)
	}
	if since := q.Get("since"); since != "" {
		t, err := parseSince(since, time.Now())
		if err != nil {
			return err
		}
		f.Since = t
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return errorf(http.StatusBadRequest, "limit %q: give a number from 1 to 1000", l)
		}
		f.Limit = n
	}
	runs, err := s.st.Runs(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, runs)
	return nil
}

// parseSince reads an RFC 3339 time or a duration back from now ("24h").
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errorf(http.StatusBadRequest, "since %q: give an RFC 3339 time (2026-03-01T00:00:00Z) or a duration back from now (24h)", s)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, _ *caller) error {
	run, err := s.st.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v := runView{Run: run}
	if run.Agents != nil {
		if v.Assignments, err = s.st.Assignments(r.Context(), store.AssignmentFilter{Run: run.ID}); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// ended returns the journal of a run that has ended.
func (s *Server) ended(ctx context.Context, id string) (store.Run, *journal.Journal, error) {
	run, err := s.st.Run(ctx, id)
	if err != nil {
		return run, nil, err
	}
	if run.Status.Active() || len(run.Journal) == 0 {
		return run, nil, errorf(http.StatusConflict, "run %s is %s: its journal is written when it ends (follow GET /api/v1/runs/%s/events)", id, run.Status, id)
	}
	var j journal.Journal
	if err := json.Unmarshal(run.Journal, &j); err != nil {
		return run, nil, fmt.Errorf("read journal of run %s: %w", id, err)
	}
	return run, &j, nil
}

func (s *Server) runJournal(w http.ResponseWriter, r *http.Request, _ *caller) error {
	run, _, err := s.ended(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="journal-%s.json"`, run.ID))
	_, err = w.Write(run.Journal)
	return err
}

func (s *Server) runReport(w http.ResponseWriter, r *http.Request, _ *caller) error {
	format := r.URL.Query().Get("format")
	render, ctype, ext := report.HTML, "text/html; charset=utf-8", "html"
	switch format {
	case "", "html":
	case "md", "markdown":
		render, ctype, ext = report.Markdown, "text/markdown; charset=utf-8", "md"
	default:
		return errorf(http.StatusBadRequest, "format %q: use html or md", format)
	}
	run, j, err := s.ended(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := render(&b, j); err != nil {
		return err
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="report-%s.%s"`, run.ID, ext))
	_, err = w.Write(b.Bytes())
	return err
}

// haltRequest says why.
type haltRequest struct {
	Reason string `json:"reason,omitempty"`
}

// readHalt decodes an optional haltRequest (an empty body is fine).
func readHalt(r *http.Request) (haltRequest, error) {
	var req haltRequest
	if r.ContentLength == 0 {
		return req, nil
	}
	err := decode(r, &req)
	return req, err
}

func (s *Server) haltRun(w http.ResponseWriter, r *http.Request, c *caller) error {
	req, err := readHalt(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	var run store.Run
	var agents []string
	err = s.change(r.Context(), c, "run.halt", "run/"+id, func(tx store.Store) (any, error) {
		var err error
		if run, err = tx.Run(r.Context(), id); err != nil {
			return nil, err
		}
		if !run.Status.Active() {
			return nil, errorf(http.StatusConflict, "run %s has ended (%s): nothing to halt", id, run.Status)
		}
		agents, err = s.requestHalt(r.Context(), tx, &run)
		return map[string]any{"reason": req.Reason}, err
	})
	if err != nil {
		return err
	}
	s.afterHalt([]store.Run{run}, agents, c.actor(), req.Reason)
	writeJSON(w, http.StatusAccepted, run)
	return nil
}

// requestHalt marks a run halted in tx: assignments not yet sent are
// cancelled, the others are told to halt on their agent's next poll. It
// returns the agents to wake.
func (s *Server) requestHalt(ctx context.Context, tx store.Store, run *store.Run) ([]string, error) {
	run.HaltRequested = true
	if err := tx.UpdateRun(ctx, *run); err != nil {
		return nil, err
	}
	if run.Agents == nil {
		return nil, nil
	}
	asgs, err := tx.Assignments(ctx, store.AssignmentFilter{Run: run.ID})
	if err != nil {
		return nil, err
	}
	var agents []string
	for _, a := range asgs {
		if a.State.Final() {
			continue
		}
		if a.State == store.AssignmentPending {
			a.State = store.AssignmentCancelled
		}
		a.HaltRequested, a.Updated = true, utcNow()
		if err := tx.UpdateAssignment(ctx, a); err != nil {
			return nil, err
		}
		agents = append(agents, a.Agent)
	}
	return agents, nil
}

// afterHalt acts on committed halts: it stops the runs executing here,
// wakes the agents, settles runs that have nothing left, and notifies.
func (s *Server) afterHalt(runs []store.Run, agents []string, actor, reason string) {
	s.hub.wakeAgents(agents...)
	for _, run := range runs {
		if run.Agents == nil {
			s.haltLocal(run.ID, "halted by "+actor)
		} else {
			s.settle(context.WithoutCancel(s.base), run.ID)
		}
		s.hub.wakeRun(run.ID)
		text := fmt.Sprintf("faultline: %s halted run %s of %s", actor, run.ID, run.Experiment)
		if reason != "" {
			text += ": " + reason
		}
		s.notify.Notify(webhook.Event{Kind: webhook.RunHalted, Run: run.ID, Experiment: run.Experiment, Actor: actor, Reason: reason, Text: text})
	}
}

// haltAllResult says what halt-all did.
type haltAllResult struct {
	Runs   []string `json:"runs"`
	Agents int      `json:"agents"`
}

// haltAll is the big red button: every active run is halted and every
// agent is told to halt everything on its poll, which answers at once.
func (s *Server) haltAll(w http.ResponseWriter, r *http.Request, c *caller) error {
	req, err := readHalt(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var runs []store.Run
	var agents []string
	res := haltAllResult{Runs: []string{}}
	err = s.halts.request(ctx, func() ([]string, error) {
		var flagged []string
		err := s.change(ctx, c, "halt.all", "*", func(tx store.Store) (any, error) {
			active, err := tx.Runs(ctx, store.RunFilter{Status: []store.RunStatus{store.RunPending, store.RunRunning}, Limit: 100000})
			if err != nil {
				return nil, err
			}
			for _, run := range active {
				full, err := tx.Run(ctx, run.ID)
				if err != nil {
					return nil, err
				}
				woken, err := s.requestHalt(ctx, tx, &full)
				if err != nil {
					return nil, err
				}
				runs = append(runs, full)
				agents = append(agents, woken...)
				res.Runs = append(res.Runs, run.ID)
			}
			if flagged, err = tx.RequestHaltAll(ctx); err != nil {
				return nil, err
			}
			res.Agents = len(flagged)
			return map[string]any{"reason": req.Reason, "runs": res.Runs, "agents": res.Agents}, nil
		})
		return flagged, err
	})
	if err != nil {
		return err
	}
	s.hub.wakeAllAgents()
	s.afterHalt(runs, agents, c.actor(), req.Reason)
	text := fmt.Sprintf("faultline: %s pressed HALT ALL: %d runs halted, %d agents told to recover every fault", c.actor(), len(res.Runs), res.Agents)
	if req.Reason != "" {
		text += ": " + req.Reason
	}
	s.notify.Notify(webhook.Event{Kind: webhook.HaltAll, Actor: c.actor(), Reason: req.Reason, Text: text})
	writeJSON(w, http.StatusOK, res)
	return nil
}

// finished stores the end of a run and announces it.
func (s *Server) finished(ctx context.Context, run store.Run, j *journal.Journal) error {
	if err := endRun(ctx, s.st, &run, j); err != nil {
		return err
	}
	s.announceEnd(run, j)
	return nil
}

// endRun stores the verdict and journal of run in st (a store or a
// transaction).
func endRun(ctx context.Context, st store.Store, run *store.Run, j *journal.Journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode journal of run %s: %w", run.ID, err)
	}
	run.Status, run.Reason, run.Journal, run.Ended = store.RunStatus(j.Status), j.Reason, b, j.Ended
	if run.Ended.IsZero() {
		run.Ended = utcNow()
	}
	return st.UpdateRun(ctx, *run)
}

// announceEnd wakes the run's event streams and notifies webhooks of a
// deviation or an abort.
func (s *Server) announceEnd(run store.Run, j *journal.Journal) {
	s.hub.wakeRun(run.ID)
	kind := ""
	switch j.Status {
	case journal.Deviated:
		kind = webhook.RunDeviated
	case journal.Aborted:
		kind = webhook.RunAborted
	}
	if kind != "" {
		s.notify.Notify(webhook.Event{Kind: kind, Run: run.ID, Experiment: run.Experiment, Status: string(j.Status), Reason: j.Reason,
			Text: fmt.Sprintf("faultline: run %s of %s %s: %s", run.ID, run.Experiment, strings.ToUpper(string(j.Status)), j.Reason)})
	}
}
