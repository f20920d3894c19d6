package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/agent/protocol"
	"github.com/faultline-dev/faultline/engine"
	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/journal"
)

// Why the agent recovered faults by itself (protocol.RecoveredFault.Reason).
const (
	ReasonLeaseExpired = "lease expired"
	ReasonRestarted    = "agent restarted"
	ReasonHaltAll      = "halt all"
)

// execution is one assignment being run.
type execution struct {
	asg    protocol.Assignment
	runID  string
	cancel context.CancelFunc

	mu     sync.Mutex
	reason string // why it was halted, once it was
}

// halt cancels the run (the engine recovers every fault); the first
// reason is kept.
func (e *execution) halt(reason string) {
	e.mu.Lock()
	if e.reason == "" {
		e.reason = reason
	}
	e.mu.Unlock()
	e.cancel()
}

func (e *execution) haltReason() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reason
}

// execute runs one assignment with the engine, streaming its events, and
// queues its journal as the last event.
func (a *Agent) execute(ctx context.Context, e *execution) {
	log := a.log.With("assignment", e.asg.ID, "run", e.runID)
	s := &stream{out: &a.out, e: e}
	var j *journal.Journal
	x, err := experiment.Parse([]byte(e.asg.Experiment), "experiment", engine.Catalog())
	if err != nil {
		log.Warn("assignment is not a valid experiment", "err", err)
		j = invalidJournal(e, err, s)
	} else {
		log.Info("running", "experiment", x.Metadata.Name, "dryRun", e.asg.DryRun)
		j = engine.Run(ctx, x, engine.Options{
			Ledger: a.ledger, DryRun: e.asg.DryRun, Observer: s, Logger: log, RunID: e.runID,
		})
	}
	if e.haltReason() == ReasonLeaseExpired && j.Status == journal.Aborted {
		j.Reason = leaseReason(j)
		if last := len(j.Events) - 1; last >= 0 && j.Events[last].Type == journal.Verdict {
			j.Events[last].Message = string(j.Status) + ": " + j.Reason
		}
	}
	log.Info("finished", "status", j.Status, "reason", j.Reason)
	s.end(j, log)
}

// leaseReason is the verdict's reason for a run the dead man's switch
// halted; the engine's own reason is kept when a fault stayed in place.
func leaseReason(j *journal.Journal) string {
	const why = "lease expired: the agent could not reach the server for longer than its lease, so it halted the run itself"
	for _, h := range j.Targets {
		if h.RecoveredAt == nil {
			return why + "; " + j.Reason
		}
	}
	return why + "; every fault was recovered"
}

// invalidJournal is the journal of an assignment whose document does not
// validate here: nothing was run.
func invalidJournal(e *execution, err error, s *stream) *journal.Journal {
	now := time.Now().UTC()
	host, _ := os.Hostname()
	j := &journal.Journal{
		APIVersion: journal.APIVersion, Run: e.runID, Host: host, Status: journal.Invalid,
		Reason: err.Error(), DryRun: e.asg.DryRun, Started: now, Ended: now,
		Checks: []*journal.Series{}, Targets: []journal.Hit{},
	}
	for _, ev := range []journal.Event{
		{Time: now, Type: journal.ErrorEvent, Message: err.Error()},
		{Time: now, Type: journal.Verdict, Message: string(journal.Invalid) + ": nothing was run: " + err.Error()},
	} {
		j.Events = append(j.Events, ev)
		s.Event(ev)
	}
	return j
}

// stream is the engine.Observer of one assignment: it numbers the run's
// journal events and queues them for the server.
type stream struct {
	out *outbox
	e   *execution

	mu  sync.Mutex // numbers and queues in one step, so the queue is in Seq order
	seq int64
}

var _ engine.Observer = (*stream)(nil)

// Event queues a journal event; a fault recovered after the lease ran out
// is also queued as recovered by the agent itself.
func (s *stream) Event(ev journal.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		return // a journal.Event always encodes
	}
	s.mu.Lock()
	s.seq++
	s.out.addEvent(protocol.RunEvent{AssignmentID: s.e.asg.ID, RunID: s.e.runID, Seq: s.seq, Event: b})
	s.mu.Unlock()
	if (ev.Type == journal.Recovered || ev.Type == journal.RecoverFailed) && s.e.haltReason() == ReasonLeaseExpired {
		rf := protocol.RecoveredFault{ID: ev.FaultID, Kind: ev.Fault, RunID: s.e.runID, At: ev.Time, Reason: ReasonLeaseExpired}
		if ev.Type == journal.RecoverFailed {
			rf.Error = ev.Message
		}
		s.out.addRecovered(rf)
	}
}

// Sample queues a check sample, so the server can chart the run live.
func (s *stream) Sample(series *journal.Series, smp journal.Sample) {
	b, err := json.Marshal(smp)
	if err != nil {
		return // a journal.Sample always encodes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.out.addEvent(protocol.RunEvent{AssignmentID: s.e.asg.ID, RunID: s.e.runID, Seq: s.seq, Check: series.Check, SeriesKind: series.Kind,
		Measure: series.Measure, Unit: series.Unit, Tolerance: series.Tolerance, Sample: b})
}

// end queues the last event of the assignment, carrying its journal.
func (s *stream) end(j *journal.Journal, log *slog.Logger) {
	b, err := json.Marshal(j)
	if err != nil {
		log.Error("cannot encode the journal; the server gets its events only", "err", err)
		b, _ = json.Marshal(map[string]any{"apiVersion": journal.APIVersion, "run": j.Run, "status": j.Status, "reason": j.Reason + "; journal not encodable: " + err.Error()})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.out.addEvent(protocol.RunEvent{AssignmentID: s.e.asg.ID, RunID: s.e.runID, Seq: s.seq, Journal: b})
}
