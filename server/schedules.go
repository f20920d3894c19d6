package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/faultline-dev/faultline/server/schedule"
	"github.com/faultline-dev/faultline/store"
)

// scheduleRequest creates or replaces a schedule.
type scheduleRequest struct {
	Name       string               `json:"name"`
	Experiment string               `json:"experiment"`
	Agents     *store.AgentSelector `json:"agents,omitempty"`
	Spec       schedule.Spec        `json:"spec"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
}

// historyKept bounds the run times a schedule remembers for its cap.
const historyKept = 100

// missedAfter is how late a scheduled run may start (the server was
// down at its time); later ones are skipped, not run at a surprising time.
const missedAfter = time.Minute

// readSchedule decodes and checks a scheduleRequest and computes its next
// run time.
func (s *Server) readSchedule(r *http.Request) (scheduleRequest, time.Time, error) {
	var req scheduleRequest
	if err := decode(r, &req); err != nil {
		return req, time.Time{}, err
	}
	if !idRE.MatchString(req.Name) {
		return req, time.Time{}, errorf(http.StatusBadRequest, "name %q: use letters, digits, '.', '_' and '-' (at most 128)", req.Name)
	}
	if _, err := s.st.Experiment(r.Context(), req.Experiment); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return req, time.Time{}, errorf(http.StatusBadRequest, "experiment %q does not exist", req.Experiment)
		}
		return req, time.Time{}, err
	}
	plan, err := schedule.Compile(req.Spec)
	if err != nil {
		return req, time.Time{}, errorf(http.StatusBadRequest, "spec: %v", err)
	}
	s.mu.Lock()
	next, err := plan.Next(utcNow(), nil, s.rng)
	s.mu.Unlock()
	if err != nil {
		return req, time.Time{}, errorf(http.StatusBadRequest, "spec: %v", err)
	}
	return req, next, nil
}

func (s *Server) createSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	req, next, err := s.readSchedule(r)
	if err != nil {
		return err
	}
	spec, err := json.Marshal(req.Spec)
	if err != nil {
		return err
	}
	sc := store.Schedule{ID: newID("sch"), Name: req.Name, Experiment: req.Experiment, Agents: req.Agents, Spec: spec,
		Enabled: req.Enabled == nil || *req.Enabled, CreatedBy: c.actor(), Created: utcNow(), NextRun: next}
	err = s.change(r.Context(), c, "schedule.create", "schedule/"+sc.ID, func(tx store.Store) (any, error) {
		return req, tx.CreateSchedule(r.Context(), sc)
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/schedules/"+sc.ID)
	writeJSON(w, http.StatusCreated, sc)
	return nil
}

func (s *Server) updateSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("id")
	req, next, err := s.readSchedule(r)
	if err != nil {
		return err
	}
	spec, err := json.Marshal(req.Spec)
	if err != nil {
		return err
	}
	var sc store.Schedule
	err = s.change(r.Context(), c, "schedule.update", "schedule/"+id, func(tx store.Store) (any, error) {
		var err error
		if sc, err = tx.Schedule(r.Context(), id); err != nil {
			return nil, err
		}
		sc.Name, sc.Experiment, sc.Agents, sc.Spec, sc.NextRun = req.Name, req.Experiment, req.Agents, spec, next
		sc.Enabled = req.Enabled == nil || *req.Enabled
		return req, tx.UpdateSchedule(r.Context(), sc)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sc)
	return nil
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request, _ *caller) error {
	list, err := s.st.Schedules(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) getSchedule(w http.ResponseWriter, r *http.Request, _ *caller) error {
	sc, err := s.st.Schedule(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sc)
	return nil
}

func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("id")
	err := s.change(r.Context(), c, "schedule.delete", "schedule/"+id, func(tx store.Store) (any, error) {
		return nil, tx.DeleteSchedule(r.Context(), id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// schedule starts the runs of enabled schedules when they are due,
// checking every second, until ctx ends.
func (s *Server) schedule(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		list, err := s.st.Schedules(ctx)
		if err != nil {
			s.log.Error("cannot list schedules", "err", err)
			continue
		}
		now := utcNow()
		for _, sc := range list {
			if sc.Enabled && !sc.NextRun.IsZero() && !sc.NextRun.After(now) {
				s.fire(ctx, sc, now)
			}
		}
	}
}

// fire starts a due schedule's run (or skips it when it is overdue), and
// computes its next time.
func (s *Server) fire(ctx context.Context, sc store.Schedule, now time.Time) {
	log := s.log.With("schedule", sc.Name)
	actor := "schedule " + sc.Name
	action, details := "schedule.run", map[string]any{"due": sc.NextRun}
	if now.Sub(sc.NextRun) > missedAfter {
		action, details["why"] = "schedule.missed", fmt.Sprintf("due at %s while the server was down; skipped rather than run late", sc.NextRun.Format(time.RFC3339))
		log.Warn("skipped a scheduled run the server missed", "due", sc.NextRun)
	} else {
		run, err := s.launch(ctx, startRequest{Experiment: sc.Experiment, Agents: sc.Agents}, actor, sc.ID)
		if err != nil {
			action, details["error"] = "schedule.failed", err.Error()
			log.Error("scheduled run did not start", "err", err)
		} else {
			details["run"] = run.ID
			sc.LastRun = now
			sc.History = append(sc.History, now)
			if len(sc.History) > historyKept {
				sc.History = sc.History[len(sc.History)-historyKept:]
			}
		}
	}
	var spec schedule.Spec
	var plan schedule.Schedule
	err := json.Unmarshal(sc.Spec, &spec)
	if err == nil {
		plan, err = schedule.Compile(spec)
	}
	if err == nil {
		s.mu.Lock()
		sc.NextRun, err = plan.Next(now, sc.History, s.rng)
		s.mu.Unlock()
	}
	if err != nil {
		sc.Enabled, sc.NextRun = false, time.Time{}
		details["disabled"] = err.Error()
		log.Error("schedule disabled: no next time", "err", err)
	}
	details["next"] = sc.NextRun
	err = s.st.Update(ctx, func(tx store.Store) error {
		if err := tx.UpdateSchedule(ctx, sc); err != nil {
			return err
		}
		return audit(ctx, tx, actor, action, "schedule/"+sc.ID, details)
	})
	if err != nil {
		log.Error("cannot store the schedule's next time", "err", err)
	}
}
