// Package engine runs one experiment: it resolves targets, checks the steady
// state, injects faults while sampling the hypothesis and the stop
// conditions, always recovers every fault in reverse order, runs rollbacks,
// waits for the steady state to return, and records all of it in a journal.
//
// The CLI, the control plane and the operator all run experiments through
// Run.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/ledger"
	"github.com/faultline-dev/faultline/probe"
	"github.com/faultline-dev/faultline/proxy"
	"github.com/faultline-dev/faultline/target"
)

// Options configure a run.
type Options struct {
	// Ledger records every fault before it is applied. Required unless
	// DryRun.
	Ledger *ledger.Ledger
	// DryRun resolves targets and checks the machine, injecting nothing.
	DryRun bool
	// Observer sees events and samples as they happen (optional).
	Observer Observer
	// Logger gets diagnostics (optional).
	Logger *slog.Logger
	// RunID names the run; one is made up when empty.
	RunID string
	// RecoverTimeout bounds the recovery of one fault (default 1m).
	RecoverTimeout time.Duration
}

// ErrHalted is the cause of a run stopped by its caller (a signal, the halt
// button): the context given to Run was cancelled.
var ErrHalted = errors.New("halted")

// Run executes x and returns its journal. Cancelling ctx halts the run: the
// method stops, and every fault is still recovered (recovery does not
// listen to ctx). Run never returns with a fault it applied left open
// unless recovering it failed, which the journal says loudly.
func Run(ctx context.Context, x *experiment.Experiment, opts Options) *journal.Journal {
	r := newRun(x, opts)
	defer probe.StopAll(x.Checks())
	r.run(ctx)
	return r.finish()
}

type run struct {
	x    *experiment.Experiment
	opts Options
	log  *slog.Logger
	j    *journal.Journal
	rec  *recorder

	faults  atomic.Int64 // numbers fault ids
	planned map[*experiment.Step][]target.Target

	mu       sync.Mutex
	active   []*applied // faults in place, in order of injection
	status   journal.Status
	reason   string
	deviated []string

	// local runs the experiment's own fault proxies (spec.proxies).
	local *proxy.Local

	firstInjection time.Time
	lastRecovery   time.Time
	heldAgain      time.Time // end of the first post-check round in which every check held
}

func newRun(x *experiment.Experiment, opts Options) *run {
	if opts.RunID == "" {
		opts.RunID = NewRunID()
	}
	if opts.RecoverTimeout == 0 {
		opts.RecoverTimeout = time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	j := &journal.Journal{
		APIVersion: journal.APIVersion, Run: opts.RunID, Name: x.Metadata.Name, Host: host,
		DryRun: opts.DryRun, Started: time.Now().UTC(),
		Events: []journal.Event{}, Checks: []*journal.Series{}, Targets: []journal.Hit{},
	}
	if b, err := marshalExperiment(x); err == nil {
		j.Experiment = b
	}
	return &run{x: x, opts: opts, log: log.With("run", opts.RunID), j: j, rec: newRecorder(x, j, opts.Observer)}
}

// NewRunID makes a sortable, unique run id.
func NewRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

// abort ends the run early with a reason; the first reason wins.
func (r *run) abort(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == "" {
		r.status, r.reason = journal.Aborted, reason
	}
}

func (r *run) deviate(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deviated = append(r.deviated, reason)
}

func (r *run) aborted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status != ""
}

func (r *run) phase(name string) {
	r.rec.event(journal.Event{Type: journal.PhaseStarted, Phase: name, Message: name})
}

func (r *run) run(ctx context.Context) {
	x := r.x
	if !r.opts.DryRun && r.opts.Ledger == nil {
		r.abort("no ledger: faults cannot be recorded, so none are applied")
		return
	}
	r.phase("pre-check")
	if len(x.Spec.Proxies) > 0 {
		local, err := r.startProxies()
		if err != nil {
			r.rec.event(journal.Event{Type: journal.ErrorEvent, Message: err.Error()})
			r.abort("pre-check failed, nothing was injected: " + err.Error())
			return
		}
		defer r.stopProxies()
		r.local = local
		ctx = proxy.WithLocal(ctx, local)
	}
	if err := r.preflight(ctx); err != nil {
		r.rec.event(journal.Event{Type: journal.ErrorEvent, Message: err.Error()})
		r.abort("pre-check failed, nothing was injected: " + err.Error())
		return
	}
	h := x.Spec.Hypothesis
	if h != nil {
		for i := range h.Checks {
			r.rec.addSeries("hypothesis", &h.Checks[i])
		}
	}
	for i := range x.Spec.StopWhen {
		r.rec.addSeries("stop", &x.Spec.StopWhen[i])
	}
	if h != nil && !r.opts.DryRun {
		if failed := r.checkOnce(ctx, experiment.Before); len(failed) > 0 {
			r.abort("the steady state did not hold before the method, so nothing was injected: " + strings.Join(failed, "; "))
			return
		}
	}
	if r.opts.DryRun {
		return
	}
	halted, drain := r.method(ctx)
	r.phase("recovery")
	r.recoverAll()
	drain() // hypothesis samples still running when the method ended
	r.rollbacks()
	if h != nil && !halted {
		r.phase("post-check")
		r.postCheck(h)
	}
}

// method runs the steps with the hypothesis and stop-condition samplers
// going, and reports whether the run was halted by its caller. Hypothesis
// samples still running when the method ends (a probe waiting on a frozen
// service) are not cut short: drain waits for them, so the caller can
// recover first.
func (r *run) method(ctx context.Context) (halted bool, drain func()) {
	r.phase("method")
	mctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg, inFlight sync.WaitGroup
	if h := r.x.Spec.Hypothesis; h != nil {
		for i := range h.Checks {
			c := &h.Checks[i]
			if !runsIn(c, experiment.During) {
				continue
			}
			wg.Go(func() { r.sampleDuring(mctx, ctx, &inFlight, c, h.Every.D()) })
		}
	}
	for i := range r.x.Spec.StopWhen {
		c := &r.x.Spec.StopWhen[i]
		wg.Go(func() { r.watchStop(mctx, cancel, c) })
	}
	err := r.steps(mctx, r.x.Spec.Method)
	cancel(errMethodDone)
	wg.Wait()
	drain = inFlight.Wait
	cause := context.Cause(mctx)
	switch {
	case ctx.Err() != nil:
		r.rec.event(journal.Event{Type: journal.Halt, Message: "halted: recovering every fault"})
		r.abort("halted by the operator; every fault was recovered")
		return true, drain
	case errors.As(cause, new(*stopError)):
		r.abort(cause.Error())
	case err != nil:
		r.abort(err.Error())
	}
	return false, drain
}

var errMethodDone = errors.New("method done")

type stopError struct{ msg string }

func (e *stopError) Error() string { return e.msg }

func runsIn(c *experiment.Check, p experiment.Phase) bool {
	if len(c.Phases) == 0 {
		return true
	}
	for _, q := range c.Phases {
		if q == p {
			return true
		}
	}
	return false
}

// checkOnce samples every hypothesis check for phase p at once and returns
// the failures.
func (r *run) checkOnce(ctx context.Context, p experiment.Phase) []string {
	h := r.x.Spec.Hypothesis
	var mu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	for i := range h.Checks {
		c := &h.Checks[i]
		if !runsIn(c, p) {
			continue
		}
		wg.Go(func() {
			s := probe.Run(ctx, c)
			r.rec.sample("hypothesis", p, s)
			if !s.OK {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("%s: %s", c.Name, strings.Join(s.Failures, ", ")))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// maxInFlight bounds the samples of one check running at once: a check
// whose probe hangs (a frozen service) is still sampled on schedule, so its
// series shows the stall sample by sample, as an open-model load generator
// would, instead of one sample per timeout.
const maxInFlight = 8

// schedule runs c every period until ticks ends, each sample on time even
// while earlier ones are still running (at most maxInFlight at once), and
// hands each finished sample to done, one at a time. Samples run under
// probeCtx; one cut short by its end is dropped, not judged. Samples still
// running when ticks ends go on; inFlight counts them.
func schedule(ticks, probeCtx context.Context, inFlight *sync.WaitGroup, c *experiment.Check, every time.Duration, done func(probe.Sample)) {
	var mu sync.Mutex
	slots := make(chan struct{}, maxInFlight)
	for tick := time.Now(); ; tick = nextTick(tick, every) {
		if !sleep(ticks, time.Until(tick)) {
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			continue // every slot is taken by a hanging probe; the next tick tries again
		}
		inFlight.Go(func() {
			defer func() { <-slots }()
			s := probe.Run(probeCtx, c)
			if probeCtx.Err() != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			done(s)
		})
	}
}

// sampleDuring samples one check every period until the method ends.
func (r *run) sampleDuring(method, run context.Context, inFlight *sync.WaitGroup, c *experiment.Check, every time.Duration) {
	failing, deviated := false, false
	schedule(method, run, inFlight, c, every, func(s probe.Sample) {
		r.rec.sample("hypothesis", experiment.During, s)
		if !s.OK && !failing {
			r.rec.event(journal.Event{Type: journal.CheckFailed, Check: c.Name, Message: strings.Join(s.Failures, ", ")})
			if !deviated { // the first failure tells why; the journal keeps the rest
				deviated = true
				r.deviate(fmt.Sprintf("check %q failed during the method: %s", c.Name, strings.Join(s.Failures, ", ")))
			}
		} else if s.OK && failing {
			r.rec.event(journal.Event{Type: journal.CheckRecovered, Check: c.Name, Message: "holds again"})
		}
		failing = !s.OK
	})
}

// nextTick is the next multiple of every after prev that is not in the
// past.
func nextTick(prev time.Time, every time.Duration) time.Time {
	next := prev.Add(every)
	if now := time.Now(); next.Before(now) {
		return now
	}
	return next
}

// watchStop samples a stop condition and cancels the method once it has
// been violated for its `for`: every sample started since the violation
// began failed. Samples may finish out of order; they are placed by when
// they started.
func (r *run) watchStop(ctx context.Context, cancel context.CancelCauseFunc, c *experiment.Check) {
	every := c.Every.D()
	if every == 0 {
		every = experiment.DefaultEvery
		if h := r.x.Spec.Hypothesis; h != nil {
			every = h.Every.D()
		}
	}
	var lastOK, since time.Time // since: start of the earliest failing sample after lastOK
	stopped := false
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	schedule(ctx, ctx, &inFlight, c, every, func(s probe.Sample) {
		r.rec.sample("stop", experiment.During, s)
		switch {
		case s.OK && s.Time.After(lastOK):
			lastOK = s.Time
			if !since.IsZero() && since.Before(lastOK) {
				since = time.Time{}
			}
		case !s.OK && s.Time.After(lastOK) && (since.IsZero() || s.Time.Before(since)):
			since = s.Time
		}
		if stopped || since.IsZero() || time.Since(since) < c.For.D() {
			return
		}
		stopped = true
		msg := fmt.Sprintf("stop condition %q violated for %s: %s", c.Name, time.Since(since).Round(time.Millisecond), strings.Join(s.Failures, ", "))
		r.rec.event(journal.Event{Type: journal.StopCondition, Check: c.Name, Message: msg})
		cancel(&stopError{msg: msg})
	})
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// postCheck waits up to recoverWithin for every check to hold again, and
// to keep holding for stableSamples rounds in a row. The end of the first
// round in which every check held is when the system recovered.
func (r *run) postCheck(h *experiment.Hypothesis) {
	ctx := context.Background()
	deadline := time.Now().Add(h.RecoverWithin.D())
	var failed []string
	streak := 0
	for {
		tick := time.Now()
		failed = r.checkOnce(ctx, experiment.After)
		if len(failed) > 0 {
			streak = 0
		} else if streak++; streak == 1 {
			r.mu.Lock()
			r.heldAgain = time.Now()
			r.mu.Unlock()
		}
		if streak >= h.StableSamples {
			return
		}
		if !time.Now().Before(deadline) {
			break
		}
		sleep(ctx, min(time.Until(nextTick(tick, h.Every.D())), time.Until(deadline)))
	}
	if r.heldAgain.IsZero() {
		r.deviate(fmt.Sprintf("the steady state did not return within %s after recovery: %s", h.RecoverWithin, strings.Join(failed, "; ")))
		return
	}
	r.deviate(fmt.Sprintf("the steady state returned but did not hold for %d rounds in a row within %s after recovery: %s", h.StableSamples, h.RecoverWithin, strings.Join(failed, "; ")))
}

// rollbacks runs the rollback actions; their failures are recorded, not
// judged.
func (r *run) rollbacks() {
	for i := range r.x.Spec.Rollbacks {
		c := &r.x.Spec.Rollbacks[i]
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.RecoverTimeout)
		s := probe.Run(ctx, c)
		cancel()
		msg := "done"
		if !s.OK {
			msg = "failed: " + strings.Join(s.Failures, ", ")
		}
		r.rec.event(journal.Event{Type: journal.Rollback, Check: c.Name, Message: msg})
	}
}

// finish decides the verdict, computes the metrics and returns the journal.
func (r *run) finish() *journal.Journal {
	r.mu.Lock()
	defer r.mu.Unlock()
	j := r.j
	switch {
	case r.status != "":
		j.Status, j.Reason = r.status, r.reason
	case r.opts.DryRun:
		j.Status, j.Reason = journal.Held, "dry run: targets resolved, nothing injected"
	case len(r.deviated) > 0:
		j.Status, j.Reason = journal.Deviated, strings.Join(r.deviated, "; ")
	default:
		j.Status = journal.Held
		if r.x.Spec.Hypothesis != nil {
			j.Reason = "the steady state held while the faults were in place"
		} else {
			j.Reason = "every fault was injected and recovered"
		}
	}
	if open := r.unrecovered(); len(open) > 0 {
		j.Status = journal.Aborted
		j.Reason = fmt.Sprintf("FAULTS LEFT IN PLACE: recovering %s failed; run `faultline recover` (%s)", strings.Join(open, ", "), j.Reason)
	}
	j.Metrics = metrics(j, r.rec, r.firstInjection, r.lastRecovery, r.heldAgain)
	j.Ended = time.Now().UTC()
	r.rec.mu.Lock()
	j.Events = append(j.Events, journal.Event{At: r.rec.now(), Time: j.Ended, Type: journal.Verdict, Message: string(j.Status) + ": " + j.Reason})
	if r.opts.Observer != nil {
		r.opts.Observer.Event(j.Events[len(j.Events)-1])
	}
	r.rec.mu.Unlock()
	return j
}

func (r *run) unrecovered() []string {
	var out []string
	for _, h := range r.j.Targets {
		if h.RecoveredAt == nil {
			out = append(out, fmt.Sprintf("%s on %s", h.Fault, h.Target))
		}
	}
	return out
}
