package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/agent/protocol"
	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/server/auth"
	"github.com/faultline-dev/faultline/store"
)

// validAgentName reports whether name may name an agent: 1 to 253
// printable characters.
func validAgentName(name string) bool {
	return name != "" && len(name) <= 253 && !strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f })
}

// actAs refuses an agent token used for an agent other than the one it
// was issued for — one host impersonating another, to take its
// assignments, report its results or keep its lease alive — with 403 and
// an audit entry. Admin tokens may act as any agent.
func (s *Server) actAs(ctx context.Context, c *caller, call, agent string) error {
	if c.role != auth.Agent || c.token.Agent == agent {
		return nil
	}
	details := map[string]string{"call": call, "tokenAgent": c.token.Agent}
	if err := audit(ctx, s.st, c.actor(), "agent.refused", "agent/"+agent, details); err != nil {
		s.log.Error("cannot audit a refused agent call", "agent", agent, "token", c.token.ID, "err", err)
	}
	s.log.Warn("agent call refused: the token is for another agent", "call", call, "agent", agent, "token", c.token.ID, "tokenAgent", c.token.Agent)
	if c.token.Agent == "" {
		return errorf(http.StatusForbidden, "token %q was issued before agent tokens were bound to an agent and may act as none: "+
			"issue one per agent with POST /api/v1/tokens {\"role\": \"agent\", \"agent\": \"NAME\"}", c.token.Name)
	}
	return errorf(http.StatusForbidden, "token %q is for agent %q, not %q", c.token.Name, c.token.Agent, agent)
}

// register is the agent protocol's first call: the agent says who it is
// (again, after a restart: it keeps its id) and what it recovered by
// itself; the answer is its id, lease and poll wait. An agent token
// registers only the agent it was issued for.
func (s *Server) register(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req protocol.Register
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		req.Name = req.Hostname
	}
	if !validAgentName(req.Name) {
		return errorf(http.StatusBadRequest, "name the agent: a name (or hostname) of 1 to 253 printable characters")
	}
	ctx := r.Context()
	if err := s.actAs(ctx, c, "register", req.Name); err != nil {
		return err
	}
	now := utcNow()
	var a store.Agent
	err := s.change(ctx, c, "agent.register", "agent/"+req.Name, func(tx store.Store) (any, error) {
		var err error
		a, err = tx.RegisterAgent(ctx, store.Agent{ID: newID("ag"), Name: req.Name, Hostname: req.Hostname, Labels: req.Labels,
			Features: req.Features, Version: req.Version, LastSeen: now, LeaseUntil: now.Add(s.cfg.Lease)})
		if err != nil {
			return nil, err
		}
		if err := recordRecovered(ctx, tx, a.Name, req.Recovered); err != nil {
			return nil, err
		}
		return map[string]any{"id": a.ID, "hostname": a.Hostname, "version": a.Version, "labels": a.Labels, "recovered": len(req.Recovered)}, nil
	})
	if err != nil {
		return err
	}
	s.log.Info("agent registered", "agent", a.Name, "id", a.ID, "recovered", len(req.Recovered))
	writeJSON(w, http.StatusOK, protocol.Registered{AgentID: a.ID, Lease: protocol.Duration(s.cfg.Lease), Wait: protocol.Duration(s.cfg.PollWait)})
	return nil
}

// recordRecovered audits the faults an agent recovered by itself.
func recordRecovered(ctx context.Context, tx store.Store, agent string, rs []protocol.RecoveredFault) error {
	for _, rf := range rs {
		if err := audit(ctx, tx, "agent "+agent, "agent.recovered", "fault/"+rf.ID, rf); err != nil {
			return err
		}
	}
	return nil
}

// poll is the agent's heartbeat and long poll: it stores what the agent
// reports, then answers at once with work or halts, or holds the request
// until there is some or the wait is over. An agent token polls only as
// the agent it was issued for.
func (s *Server) poll(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("id")
	var p protocol.Poll
	if err := decode(r, &p); err != nil {
		return err
	}
	ctx := r.Context()
	if c.role == auth.Agent {
		a, err := s.st.Agent(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, "unknown agent %s: register again", id)
		}
		if err != nil {
			return err
		}
		if err := s.actAs(ctx, c, "poll", a.Name); err != nil {
			return err
		}
	}
	news := s.hub.agent(id) // before reading the state, so nothing is missed
	changed, streamed, err := s.ingest(ctx, id, p, utcNow())
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "unknown agent %s: register again", id)
	}
	if err != nil {
		return err
	}
	for run := range changed {
		s.settle(ctx, run)
	}
	for run := range streamed {
		s.hub.wakeRun(run)
	}
	reply, err := s.pollReply(ctx, id)
	if err != nil {
		return err
	}
	if !reply.HaltAll && len(reply.Halt) == 0 && len(reply.Assignments) == 0 {
		wait := s.cfg.PollWait
		if pw := time.Duration(p.Wait); pw > 0 && pw < wait {
			wait = pw
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-news:
			if reply, err = s.pollReply(ctx, id); err != nil {
				return err
			}
		case <-t.C:
		case <-s.closing:
		case <-ctx.Done():
			return nil // the agent gave up; it polls again
		}
	}
	reply.Lease = protocol.Duration(s.cfg.Lease)
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// ingest stores what a poll reports, in one transaction: the heartbeat
// (a renewed lease), run events (de-duplicated), assignment states
// (acknowledged, ended with a journal, or gone), open faults and faults
// the agent recovered by itself. It returns the runs whose assignments
// changed state, and those with new events.
func (s *Server) ingest(ctx context.Context, agent string, p protocol.Poll, now time.Time) (changed, streamed map[string]bool, err error) {
	changed, streamed = map[string]bool{}, map[string]bool{}
	err = s.st.Update(ctx, func(tx store.Store) error {
		if err := tx.Heartbeat(ctx, store.Heartbeat{Agent: agent, At: now, LeaseUntil: now.Add(s.cfg.Lease), Labels: p.Labels}); err != nil {
			return err
		}
		asgs, err := tx.Assignments(ctx, store.AssignmentFilter{Agent: agent, States: []store.AssignmentState{
			store.AssignmentPending, store.AssignmentDelivered, store.AssignmentRunning, store.AssignmentLost}})
		if err != nil {
			return err
		}
		mine := make(map[string]store.Assignment, len(asgs))
		for _, a := range asgs {
			mine[a.ID] = a
		}
		acked := map[string]bool{}
		for _, id := range p.Running {
			acked[id] = true
		}
		journals := map[string]json.RawMessage{}
		var events []store.RunEvent
		for _, e := range p.Events {
			a, ok := mine[e.AssignmentID]
			if !ok || a.Run != e.RunID {
				continue // an assignment that ended, or not this agent's
			}
			acked[a.ID] = true
			if len(e.Journal) > 0 {
				journals[a.ID] = e.Journal
				continue
			}
			body := e.Event
			if len(e.Sample) > 0 {
				if body, err = agentSample(e); err != nil {
					continue // a sample that is not one: dropped, the journal has it
				}
			}
			if len(body) > 0 {
				events = append(events, store.RunEvent{Run: a.Run, Agent: agent, Seq: e.Seq, Event: body, Received: now})
				streamed[a.Run] = true
			}
		}
		if _, err := tx.AppendRunEvents(ctx, events); err != nil {
			return err
		}
		for _, a := range asgs {
			next := a.State
			switch {
			case journals[a.ID] != nil:
				next, a.Journal = store.AssignmentDone, journals[a.ID]
			case acked[a.ID]:
				next = store.AssignmentRunning
			case a.State == store.AssignmentDelivered && a.HaltRequested:
				// Not acknowledged, so the agent never got it: it was
				// halted before it started.
				next = store.AssignmentCancelled
			case a.State == store.AssignmentRunning:
				// The agent no longer runs it and sent no journal: it
				// restarted and lost the run (its ledger recovered the
				// faults).
				next = store.AssignmentLost
			}
			if next == a.State && journals[a.ID] == nil {
				continue
			}
			a.State, a.Updated = next, now
			if err := tx.UpdateAssignment(ctx, a); err != nil {
				return err
			}
			changed[a.Run] = true
		}
		faults := make([]store.AgentFault, 0, len(p.OpenFaults))
		for _, f := range p.OpenFaults {
			faults = append(faults, store.AgentFault{ID: f.ID, Kind: f.Kind, Target: f.Target, Run: f.RunID, Since: f.Since})
		}
		if err := tx.SetAgentFaults(ctx, agent, faults); err != nil {
			return err
		}
		if len(p.Recovered) > 0 {
			a, err := tx.Agent(ctx, agent)
			if err != nil {
				return err
			}
			return recordRecovered(ctx, tx, a.Name, p.Recovered)
		}
		return nil
	})
	return changed, streamed, err
}

// agentSample stores an agent's sample like the server's own (sink.Sample),
// with its series' measure, unit and tolerance.
func agentSample(e protocol.RunEvent) (json.RawMessage, error) {
	var smp journal.Sample
	if err := json.Unmarshal(e.Sample, &smp); err != nil {
		return nil, err
	}
	return json.Marshal(sampleEvent{Type: "sample", Check: e.Check, Kind: e.SeriesKind,
		Measure: e.Measure, Unit: e.Unit, Tolerance: e.Tolerance, Sample: smp})
}

// pollReply is what the agent must be told: halt-all (once, and alone),
// or the assignments to halt and those it has not acknowledged yet, sent
// until it does. With nothing to send it writes nothing.
func (s *Server) pollReply(ctx context.Context, agent string) (protocol.PollReply, error) {
	var reply protocol.PollReply
	if s.halts.take(agent) {
		// Halting everything: the agent needs nothing else now, and
		// thousands of these go out at once.
		reply.HaltAll = true
		return reply, nil
	}
	active := []store.AssignmentState{store.AssignmentPending, store.AssignmentDelivered, store.AssignmentRunning}
	asgs, err := s.st.Assignments(ctx, store.AssignmentFilter{Agent: agent, States: active})
	if err != nil {
		return reply, err
	}
	deliver := false
	for _, a := range asgs {
		deliver = deliver || (!a.HaltRequested && a.State != store.AssignmentRunning)
	}
	if deliver {
		err := s.st.Update(ctx, func(tx store.Store) error {
			reply.Assignments = nil
			asgs, err := tx.Assignments(ctx, store.AssignmentFilter{Agent: agent, States: active})
			if err != nil {
				return err
			}
			for _, a := range asgs {
				if a.HaltRequested || a.State == store.AssignmentRunning {
					continue
				}
				run, err := tx.Run(ctx, a.Run)
				if err != nil {
					return err
				}
				reply.Assignments = append(reply.Assignments, protocol.Assignment{
					ID: a.ID, RunID: a.Run, Experiment: run.Document, DryRun: run.DryRun, Created: a.Created})
				if a.State == store.AssignmentPending {
					a.State, a.Updated = store.AssignmentDelivered, utcNow()
					if err := tx.UpdateAssignment(ctx, a); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return reply, err
		}
	}
	for _, a := range asgs {
		if a.HaltRequested {
			reply.Halt = append(reply.Halt, a.ID)
		}
	}
	return reply, nil
}

// settle brings an agent run's status in line with its assignments:
// running once an agent acknowledged it, and ended — with the agents'
// journals merged — once every assignment is final. A journal that
// arrives after that (an agent that was lost came back) updates it.
func (s *Server) settle(ctx context.Context, id string) {
	var run store.Run
	var j *journal.Journal
	var wasActive bool
	err := s.st.Update(ctx, func(tx store.Store) error {
		var err error
		if run, err = tx.Run(ctx, id); err != nil || run.Agents == nil {
			return err
		}
		wasActive = run.Status.Active()
		asgs, err := tx.Assignments(ctx, store.AssignmentFilter{Run: id})
		if err != nil {
			return err
		}
		final, acked := true, false
		for _, a := range asgs {
			final = final && a.State.Final()
			acked = acked || a.State == store.AssignmentRunning || a.State == store.AssignmentDone
		}
		if !final {
			if run.Status == store.RunPending && acked {
				run.Status, run.Started = store.RunRunning, utcNow()
				return tx.UpdateRun(ctx, run)
			}
			return nil
		}
		parts := make([]part, 0, len(asgs))
		for _, a := range asgs {
			full, err := tx.Assignment(ctx, a.ID)
			if err != nil {
				return err
			}
			ag, err := tx.Agent(ctx, a.Agent)
			if err != nil {
				return err
			}
			parts = append(parts, part{agent: ag.Name, asg: full})
		}
		j = mergeJournals(run, parts, utcNow())
		return endRun(ctx, tx, &run, j)
	})
	if err != nil {
		s.log.Error("cannot settle run", "run", id, "err", err)
		return
	}
	if j != nil && wasActive {
		s.log.Info("run ended on agents", "run", id, "status", j.Status, "reason", j.Reason)
		s.announceEnd(run, j)
	}
}

// watchLeases marks agents lost when their lease ends without a poll, and
// their unfinished assignments with them (the agents' dead man's switches
// recover their faults).
func (s *Server) watchLeases(ctx context.Context) {
	t := time.NewTicker(max(s.cfg.Lease/10, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		runs, err := s.markLost(ctx, utcNow())
		if err != nil {
			s.log.Error("cannot mark lost agents", "err", err)
			continue
		}
		for _, run := range runs {
			s.settle(ctx, run)
			s.hub.wakeRun(run)
		}
	}
}

func (s *Server) markLost(ctx context.Context, now time.Time) ([]string, error) {
	touched := map[string]bool{}
	err := s.st.Update(ctx, func(tx store.Store) error {
		lost, err := tx.MarkAgentsLost(ctx, now)
		if err != nil {
			return err
		}
		for _, id := range lost {
			asgs, err := tx.Assignments(ctx, store.AssignmentFilter{Agent: id, States: []store.AssignmentState{
				store.AssignmentPending, store.AssignmentDelivered, store.AssignmentRunning}})
			if err != nil {
				return err
			}
			for _, a := range asgs {
				a.State, a.Updated = store.AssignmentLost, now
				if err := tx.UpdateAssignment(ctx, a); err != nil {
					return err
				}
				touched[a.Run] = true
			}
			s.log.Warn("agent lost: no poll within its lease", "agent", id, "assignments", len(asgs))
			if err := audit(ctx, tx, "server", "agent.lost", "agent/"+id, map[string]int{"assignments": len(asgs)}); err != nil {
				return err
			}
		}
		return nil
	})
	runs := make([]string, 0, len(touched))
	for run := range touched {
		runs = append(runs, run)
	}
	return runs, err
}

// agentView is an agent as the API shows it.
type agentView struct {
	store.Agent
	EffectiveLabels map[string]string `json:"effectiveLabels"`
	OpenFaults      int               `json:"openFaults"`
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, _ *caller) error {
	agents, err := s.st.Agents(r.Context())
	if err != nil {
		return err
	}
	faults, err := s.st.AgentFaults(r.Context(), "")
	if err != nil {
		return err
	}
	open := map[string]int{}
	for _, f := range faults {
		open[f.Agent]++
	}
	out := make([]agentView, 0, len(agents))
	for _, a := range agents {
		out = append(out, agentView{Agent: a, EffectiveLabels: a.EffectiveLabels(), OpenFaults: open[a.ID]})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// agentDetail is one agent with its open faults and unfinished
// assignments.
type agentDetail struct {
	agentView
	Faults      []store.AgentFault `json:"faults"`
	Assignments []store.Assignment `json:"assignments"`
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request, _ *caller) error {
	ctx := r.Context()
	a, err := s.st.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	faults, err := s.st.AgentFaults(ctx, a.ID)
	if err != nil {
		return err
	}
	asgs, err := s.st.Assignments(ctx, store.AssignmentFilter{Agent: a.ID, States: []store.AssignmentState{
		store.AssignmentPending, store.AssignmentDelivered, store.AssignmentRunning}})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, agentDetail{
		agentView: agentView{Agent: a, EffectiveLabels: a.EffectiveLabels(), OpenFaults: len(faults)},
		Faults:    faults, Assignments: asgs,
	})
	return nil
}

func (s *Server) agentFaults(w http.ResponseWriter, r *http.Request, _ *caller) error {
	a, err := s.st.Agent(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	faults, err := s.st.AgentFaults(r.Context(), a.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, faults)
	return nil
}

// labelsRequest sets the labels operators give an agent (they win over
// the ones it reports).
type labelsRequest struct {
	Labels map[string]string `json:"labels"`
}

func (s *Server) setAgentLabels(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req labelsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	for k, v := range req.Labels {
		if k == "" || len(k) > 63 || len(v) > 253 {
			return errorf(http.StatusBadRequest, "label %q=%q: keys are 1 to 63 characters, values at most 253", k, v)
		}
	}
	id := r.PathValue("id")
	var a store.Agent
	err := s.change(r.Context(), c, "agent.labels", "agent/"+id, func(tx store.Store) (any, error) {
		if err := tx.SetAgentLabels(r.Context(), id, req.Labels); err != nil {
			return nil, err
		}
		var err error
		a, err = tx.Agent(r.Context(), id)
		return req, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, agentView{Agent: a, EffectiveLabels: a.EffectiveLabels()})
	return nil
}
