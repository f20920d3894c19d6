package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/ledger"
	"github.com/faultline-dev/faultline/probe"
	"github.com/faultline-dev/faultline/proxy"
	"github.com/faultline-dev/faultline/target"
)

// applied is a fault in place on one target.
type applied struct {
	rec *fault.Record
	hit int // index in the journal's targets
}

// Planned is a fault step with the targets it would hit now.
type Planned struct {
	Step    *experiment.Step
	Targets []target.Target
}

// Plan resolves every fault step's targets and runs each kind's preflight
// against them, injecting nothing. It is the pre-check and the dry run.
func Plan(ctx context.Context, x *experiment.Experiment) ([]Planned, error) {
	var plan []Planned
	var errs []error
	var walk func(steps []experiment.Step)
	walk = func(steps []experiment.Step) {
		for i := range steps {
			s := &steps[i]
			switch s.Kind() {
			case experiment.ParallelStep:
				walk(s.Parallel)
				continue
			case experiment.FaultStep:
			default:
				continue
			}
			targets, err := target.Resolve(ctx, s.Target)
			if err != nil {
				errs = append(errs, fmt.Errorf("step %q: %w", s.Name, err))
				continue
			}
			for _, t := range targets {
				rec, err := newRecord(s, t, "preflight", "preflight")
				if err == nil {
					err = kindOf(s).Preflight(ctx, rec)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("step %q on %s: %w", s.Name, t, err))
				}
			}
			plan = append(plan, Planned{Step: s, Targets: targets})
		}
	}
	walk(x.Spec.Method)
	return plan, errors.Join(errs...)
}

func kindOf(s *experiment.Step) fault.Kind {
	k, _ := fault.Lookup(s.Fault) // the document was validated against the registry
	return k
}

var self = sync.OnceValue(func() fault.Owner {
	st, _ := procfs.Self()
	host, _ := os.Hostname()
	return fault.Owner{PID: os.Getpid(), StartTime: st.StartTime, Host: host}
})

func newRecord(s *experiment.Step, t target.Target, run, id string) (*fault.Record, error) {
	params, err := json.Marshal(s.Params)
	if err != nil {
		return nil, fmt.Errorf("encode parameters of step %q: %w", s.Name, err)
	}
	return &fault.Record{
		ID: id, Kind: s.Fault, Target: t, Params: params, Duration: s.Duration,
		Run: run, Step: s.Name, Owner: self(), Created: time.Now().UTC(),
	}, nil
}

func (r *run) preflight(ctx context.Context) error {
	plan, err := Plan(ctx, r.x)
	r.planned = map[*experiment.Step][]target.Target{}
	for _, p := range plan {
		r.planned[p.Step] = p.Targets
		for _, t := range p.Targets {
			verb := "will inject"
			if r.opts.DryRun {
				verb = "would inject"
			}
			msg := fmt.Sprintf("%s %s into %s", verb, p.Step.Fault, t)
			if p.Step.Duration > 0 {
				msg += " for " + p.Step.Duration.String()
			}
			r.rec.event(journal.Event{Type: journal.StepStarted, Phase: "plan", Step: p.Step.Name, Fault: p.Step.Fault, Target: t.String(), Message: msg})
		}
	}
	return err
}

// steps runs steps in order; the first error ends the method.
func (r *run) steps(ctx context.Context, steps []experiment.Step) error {
	for i := range steps {
		if ctx.Err() != nil {
			return nil
		}
		if err := r.step(ctx, &steps[i]); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) step(ctx context.Context, s *experiment.Step) error {
	r.rec.event(journal.Event{Type: journal.StepStarted, Step: s.Name, Fault: s.Fault, Message: describeStep(s)})
	switch s.Kind() {
	case experiment.WaitStep:
		sleep(ctx, s.Wait.D())
	case experiment.ProbeStep:
		ps := probe.Run(ctx, s.Probe)
		if ctx.Err() != nil {
			return nil
		}
		if !ps.OK {
			r.deviate(fmt.Sprintf("probe step %q failed: %v", s.Name, ps.Failures))
			r.rec.event(journal.Event{Type: journal.CheckFailed, Step: s.Name, Check: s.Probe.Name, Message: fmt.Sprint(ps.Failures)})
		}
	case experiment.ParallelStep:
		var wg sync.WaitGroup
		errs := make([]error, len(s.Parallel))
		for i := range s.Parallel {
			wg.Go(func() { errs[i] = r.step(ctx, &s.Parallel[i]) })
		}
		wg.Wait()
		return errors.Join(errs...)
	case experiment.FaultStep:
		return r.faultStep(ctx, s)
	}
	return nil
}

func describeStep(s *experiment.Step) string {
	switch s.Kind() {
	case experiment.FaultStep:
		if s.Duration > 0 {
			return fmt.Sprintf("%s for %s", s.Fault, s.Duration)
		}
		return s.Fault + " until the end of the method"
	case experiment.WaitStep:
		return "wait " + s.Wait.String()
	case experiment.ProbeStep:
		return "probe " + s.Probe.Name
	}
	return fmt.Sprintf("%d steps in parallel", len(s.Parallel))
}

// faultStep injects into every target; with a duration it waits, then
// recovers this step's faults, else they stay until the end of the method.
func (r *run) faultStep(ctx context.Context, s *experiment.Step) error {
	targets, err := r.targets(ctx, s)
	if err != nil {
		return fmt.Errorf("step %q: %w", s.Name, err)
	}
	var mine []*applied
	for n, t := range targets {
		if ctx.Err() != nil {
			break
		}
		a, err := r.inject(ctx, s, t, n)
		if a != nil {
			mine = append(mine, a)
		}
		if err != nil {
			// Roll back what this step already hit; earlier steps'
			// faults are recovered with the rest at the end.
			r.recoverSome(mine)
			return err
		}
	}
	if s.Duration == 0 || ctx.Err() != nil {
		return nil
	}
	if sleep(ctx, s.Duration.D()) {
		r.recoverSome(mine)
	} // else: halted or stopped; recoverAll undoes everything in reverse order
	return nil
}

// targets are the ones the plan announced while they all still exist;
// otherwise (a process was restarted meanwhile) the selector is resolved
// again.
func (r *run) targets(ctx context.Context, s *experiment.Step) ([]target.Target, error) {
	planned := r.planned[s]
	for _, t := range planned {
		if !t.Alive() {
			return target.Resolve(ctx, s.Target)
		}
	}
	if len(planned) == 0 {
		return target.Resolve(ctx, s.Target)
	}
	return planned, nil
}

// inject writes the record, applies the fault and marks it applied. The
// returned applied is non-nil whenever the fault may be (partly) in place,
// so the caller recovers it even when err is set.
func (r *run) inject(ctx context.Context, s *experiment.Step, t target.Target, n int) (*applied, error) {
	id := fmt.Sprintf("%s-%d-%s-%d", r.opts.RunID, r.faults.Add(1), shortID(s.Name), n)
	rec, err := newRecord(s, t, r.opts.RunID, id)
	if err != nil {
		return nil, err
	}
	rec.Experiment = r.x.Metadata.Name
	ev := journal.Event{Step: s.Name, Fault: s.Fault, FaultID: id, Target: t.String()}
	if err := r.opts.Ledger.Begin(ctx, rec); err != nil {
		ev.Type, ev.Message = journal.InjectFailed, "not injected: "+err.Error()
		r.rec.event(ev)
		return nil, fmt.Errorf("step %q: %w", s.Name, err)
	}
	ev.Type, ev.Message = journal.Injecting, "recorded in the ledger"
	r.rec.event(ev)
	at := r.rec.now()
	a := &applied{rec: rec, hit: r.rec.hit(journal.Hit{FaultID: id, Step: s.Name, Fault: s.Fault, Target: t.String(), InjectedAt: at})}
	r.mu.Lock()
	r.active = append(r.active, a)
	if r.firstInjection.IsZero() {
		r.firstInjection = time.Now()
	}
	r.mu.Unlock()
	notes := fault.WithNotes(ctx, func(msg string) {
		r.rec.event(journal.Event{Type: journal.FaultNote, Step: s.Name, Fault: s.Fault, FaultID: id, Target: t.String(), Message: msg})
	})
	injErr := kindOf(s).Inject(notes, rec)
	if injErr != nil {
		ev.Type, ev.Message = journal.InjectFailed, injErr.Error()
		r.rec.event(ev)
		return a, fmt.Errorf("step %q: inject %s into %s: %w", s.Name, s.Fault, t, injErr)
	}
	if err := r.opts.Ledger.Injected(context.WithoutCancel(ctx), rec); err != nil {
		r.log.Warn("ledger update after injection failed; the injecting record still allows recovery", "fault", id, "err", err)
	}
	ev.Type, ev.Message = journal.Injected, s.Fault+" in place"
	if s.Duration > 0 {
		ends := r.rec.now() + s.Duration.D().Seconds()
		ev.Ends = &ends
	}
	r.rec.event(ev)
	return a, nil
}

func shortID(name string) string {
	b := make([]byte, 0, 16)
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case len(b) > 0 && b[len(b)-1] != '-':
			b = append(b, '-')
		}
		if len(b) == 16 {
			break
		}
	}
	return string(b)
}

// recoverSome recovers the given faults in reverse order and drops them
// from the active list.
func (r *run) recoverSome(as []*applied) {
	for i := len(as) - 1; i >= 0; i-- {
		r.recoverOne(as[i])
	}
}

// recoverAll recovers every fault still in place, newest first.
func (r *run) recoverAll() {
	r.mu.Lock()
	as := append([]*applied(nil), r.active...)
	r.mu.Unlock()
	r.recoverSome(as)
}

// recoverOne recovers through the ledger — the same path `faultline
// recover` takes after a crash — with a context no halt can cancel.
func (r *run) recoverOne(a *applied) {
	r.mu.Lock()
	idx := -1
	for i, b := range r.active {
		if b == a {
			idx = i
		}
	}
	if idx < 0 {
		r.mu.Unlock()
		return // already recovered
	}
	r.active = append(r.active[:idx], r.active[idx+1:]...)
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), r.opts.RecoverTimeout)
	defer cancel()
	if r.local != nil {
		ctx = proxy.WithLocal(ctx, r.local)
	}
	ev := journal.Event{Step: a.rec.Step, Fault: a.rec.Kind, FaultID: a.rec.ID, Target: a.rec.Target.String()}
	outcome, err := r.opts.Ledger.Recover(ctx, a.rec.ID)
	if err != nil {
		ev.Type, ev.Message = journal.RecoverFailed, err.Error()
		r.rec.event(ev)
		r.rec.hitRecovered(a.hit, err.Error())
		r.log.Error("recovery failed: the fault is still open in the ledger", "fault", a.rec.ID, "err", err)
		return
	}
	ev.Type, ev.Message = journal.Recovered, "recovered"
	if outcome == ledger.AlreadyRecovered {
		ev.Message = "already recovered by another faultline process"
	}
	r.rec.event(ev)
	r.rec.hitRecovered(a.hit, "")
	r.mu.Lock()
	r.lastRecovery = time.Now()
	r.mu.Unlock()
}

// marshalExperiment is the experiment as run, with secrets redacted.
func marshalExperiment(x *experiment.Experiment) (json.RawMessage, error) {
	b, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("encode experiment: %w", err)
	}
	return json.RawMessage(x.Redact(string(b))), nil
}
