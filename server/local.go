package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/faultline-dev/faultline/engine"
	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/server/auth"
	"github.com/faultline-dev/faultline/store"
)

// localRun is a run the server executes itself.
type localRun struct {
	cancel context.CancelFunc
	mu     sync.Mutex
	reason string
}

func (l *localRun) why() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reason
}

func (l *localRun) halt(reason string) {
	l.mu.Lock()
	if l.reason == "" {
		l.reason = reason
	}
	l.mu.Unlock()
	l.cancel()
}

// execute runs x on the server with the engine, streaming its events into
// the store, and stores its journal at the end.
// reserve counts a run about to execute on the server, unless the server
// is stopping; the run must then be executed, or release called.
func (s *Server) reserve() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return errorf(http.StatusServiceUnavailable, "the server is stopping: start the run once it is back")
	}
	s.runs.Add(1)
	return nil
}

func (s *Server) release() { s.runs.Done() }

// execute runs x, reserved with reserve, on the server.
func (s *Server) execute(run store.Run, x *experiment.Experiment) {
	ctx, cancel := context.WithCancel(s.base)
	lr := &localRun{cancel: cancel}
	s.mu.Lock()
	s.local[run.ID] = lr
	s.mu.Unlock()
	log := s.log.With("run", run.ID, "experiment", run.Experiment)
	go func() {
		defer s.release()
		defer cancel()
		sink := newSink(s.st, s.hub, run.ID, log)
		log.Info("run started on the server", "dryRun", run.DryRun)
		j := engine.Run(ctx, x, engine.Options{Ledger: s.cfg.Ledger, DryRun: run.DryRun, Observer: sink, Logger: log, RunID: run.ID})
		sink.close()
		s.mu.Lock()
		delete(s.local, run.ID)
		s.mu.Unlock()
		if why := lr.why(); why != "" && j.Status == journal.Aborted {
			j.Reason = why + "; " + j.Reason
		}
		// The journal is stored even when the server is stopping.
		if err := s.finished(context.WithoutCancel(ctx), run, j); err != nil {
			log.Error("cannot store the journal of the run", "err", err)
			return
		}
		log.Info("run ended", "status", j.Status, "reason", j.Reason)
	}()
}

// haltLocal halts a run executing on the server, if it is.
func (s *Server) haltLocal(id, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lr, ok := s.local[id]; ok {
		lr.halt(reason)
	}
}

// sink is the engine.Observer of a run on the server: it numbers events
// and samples and writes them to the store in batches from its own
// goroutine, so the engine never waits for the database.
type sink struct {
	st  store.Store
	hub *hub
	run string
	log *slog.Logger

	mu      sync.Mutex
	seq     int64
	pending []store.RunEvent
	kick    chan struct{}
	done    chan struct{}
}

func newSink(st store.Store, h *hub, run string, log *slog.Logger) *sink {
	k := &sink{st: st, hub: h, run: run, log: log, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go k.flushLoop()
	return k
}

// sampleEvent is how a sample is stored among a run's events.
type sampleEvent struct {
	Type      string         `json:"type"` // "sample"
	Check     string         `json:"check"`
	Kind      string         `json:"kind"`
	Measure   string         `json:"measure,omitempty"`
	Unit      string         `json:"unit,omitempty"`
	Tolerance string         `json:"tolerance,omitempty"`
	Sample    journal.Sample `json:"sample"`
}

func (k *sink) Event(e journal.Event) { k.add(e) }

func (k *sink) Sample(s *journal.Series, smp journal.Sample) {
	k.add(sampleEvent{Type: "sample", Check: s.Check, Kind: s.Kind, Measure: s.Measure, Unit: s.Unit, Tolerance: s.Tolerance, Sample: smp})
}

func (k *sink) add(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		k.log.Error("cannot encode a run event", "err", err)
		return
	}
	k.mu.Lock()
	k.seq++
	k.pending = append(k.pending, store.RunEvent{Run: k.run, Seq: k.seq, Event: b, Received: utcNow()})
	k.mu.Unlock()
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

func (k *sink) flushLoop() {
	defer close(k.done)
	for range k.kick {
		k.flush()
	}
	k.flush()
}

func (k *sink) flush() {
	k.mu.Lock()
	batch := k.pending
	k.pending = nil
	k.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if _, err := k.st.AppendRunEvents(context.Background(), batch); err != nil {
		k.log.Error("cannot store run events; the journal keeps them", "err", err, "events", len(batch))
	}
	k.hub.wakeRun(k.run)
}

// close writes what is pending and stops the flusher.
func (k *sink) close() {
	close(k.kick)
	<-k.done
}

// restartReason is the verdict of runs the server was executing when it
// stopped.
const restartReason = "the server stopped while the run was executing; on restart it recovered the run's faults from its ledger"

// recoverState makes the store true again after the server stopped
// without ending its runs: faults in the server's ledger are recovered,
// runs it was executing are ended as aborted (with the events they
// stored), and agents get a fresh lease, since they could not reach the
// server meanwhile.
func (s *Server) recoverState(ctx context.Context) error {
	var failed []string
	if s.cfg.Ledger != nil {
		results, err := s.cfg.Ledger.RecoverAll(ctx, false)
		if err != nil {
			return fmt.Errorf("server: recover the faults in the ledger: %w", err)
		}
		for _, r := range results {
			rec := r.Fault.Record
			switch {
			case r.Err != nil:
				failed = append(failed, fmt.Sprintf("%s on %s: %v", rec.Kind, rec.Target, r.Err))
				s.log.Error("cannot recover a fault left by the previous server", "fault", rec.ID, "kind", rec.Kind, "run", rec.Run, "err", r.Err)
			case r.Skipped != "":
				s.log.Warn("fault left to its owner", "fault", rec.ID, "kind", rec.Kind, "why", r.Skipped)
			default:
				s.log.Warn("recovered a fault left by the previous server", "fault", rec.ID, "kind", rec.Kind, "target", rec.Target.String(), "run", rec.Run, "outcome", r.Outcome)
			}
		}
	}
	active, err := s.st.Runs(ctx, store.RunFilter{Status: []store.RunStatus{store.RunPending, store.RunRunning}, Limit: 100000})
	if err != nil {
		return fmt.Errorf("server: list the runs in progress: %w", err)
	}
	for _, r := range active {
		if r.Agents != nil {
			continue // agents resend their events and report their journals
		}
		run, err := s.st.Run(ctx, r.ID)
		if err != nil {
			return fmt.Errorf("server: end interrupted run: %w", err)
		}
		reason := restartReason
		if len(failed) > 0 {
			reason += "; FAULTS LEFT IN PLACE: recovering " + strings.Join(failed, ", ") + " failed; run `faultline recover --ledger` on the server's ledger"
		}
		j, err := s.rebuildJournal(ctx, run, reason)
		if err != nil {
			return fmt.Errorf("server: end interrupted run %s: %w", run.ID, err)
		}
		err = s.st.Update(ctx, func(tx store.Store) error {
			if err := endRun(ctx, tx, &run, j); err != nil {
				return err
			}
			return audit(ctx, tx, "server", "run.abort", "run/"+run.ID, map[string]string{"reason": reason})
		})
		if err != nil {
			return fmt.Errorf("server: end interrupted run %s: %w", run.ID, err)
		}
		s.announceEnd(run, j)
		s.log.Warn("ended a run the server was executing when it stopped", "run", run.ID, "experiment", run.Experiment)
	}
	if err := s.st.ExtendLeases(ctx, utcNow().Add(s.cfg.Lease)); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// rebuildJournal makes the journal of an interrupted run from the events
// it stored.
func (s *Server) rebuildJournal(ctx context.Context, run store.Run, reason string) (*journal.Journal, error) {
	now := utcNow()
	j := &journal.Journal{
		APIVersion: journal.APIVersion, Run: run.ID, Name: run.Experiment, Status: journal.Aborted, Reason: reason,
		DryRun: run.DryRun, Started: run.Started, Ended: now,
		Events: []journal.Event{}, Checks: []*journal.Series{}, Targets: []journal.Hit{},
	}
	if x, res := s.parse(run.Document); res.Valid {
		if b, err := json.Marshal(x); err == nil {
			j.Experiment = json.RawMessage(x.Redact(string(b)))
		}
	}
	var last float64
	for after := int64(0); ; {
		evs, err := s.st.RunEvents(ctx, run.ID, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			after = e.ID
			var je journal.Event
			if json.Unmarshal(e.Event, &je) != nil || je.Type == "" || je.Type == "sample" {
				continue
			}
			j.Events = append(j.Events, je)
			last = je.At
		}
		if len(evs) < 1000 {
			break
		}
	}
	j.Events = append(j.Events, journal.Event{At: last, Time: now, Type: journal.Verdict, Message: string(journal.Aborted) + ": " + reason})
	return j, nil
}

// seedAdmin stores the admin token from the environment when the store
// has no token yet.
func (s *Server) seedAdmin(ctx context.Context) error {
	if s.cfg.AdminToken == "" {
		return nil
	}
	return s.st.Update(ctx, func(tx store.Store) error {
		n, err := tx.CountTokens(ctx)
		if err != nil || n > 0 {
			if n > 0 {
				s.log.Info("FAULTLINE_ADMIN_TOKEN ignored: the store has tokens already")
			}
			return err
		}
		tok := store.Token{ID: newID("tok"), Name: "admin", Role: string(auth.Admin), Hash: auth.Hash(s.cfg.AdminToken),
			CreatedBy: "FAULTLINE_ADMIN_TOKEN", Created: utcNow()}
		if err := tx.CreateToken(ctx, tok); err != nil {
			return err
		}
		s.log.Info("stored the admin token from FAULTLINE_ADMIN_TOKEN", "token", tok.ID)
		return audit(ctx, tx, "server", "token.create", "token/"+tok.ID, map[string]string{"name": tok.Name, "role": tok.Role, "from": "FAULTLINE_ADMIN_TOKEN"})
	})
}
