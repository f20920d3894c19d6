// Package agent is faultline's host agent: it registers with the control
// plane, long-polls it for assignments (each poll is also its heartbeat and
// carries the events of its runs), runs each assignment with the same
// engine as `faultline run` against its own host and its own ledger, and
// halts runs when told to.
//
// Two promises keep a host safe when things go wrong:
//
//   - Dead man's switch: faults are held under a lease from the server.
//     When the agent has not reached the server for the lease, it halts
//     every run itself — the engine recovers every fault — and reports
//     those faults as recovered with reason "lease expired" once it
//     reaches the server again.
//   - Crash safety: an agent restarted after a crash recovers what its
//     ledger holds open before anything else, and reports those faults as
//     recovered with reason "agent restarted" when it registers.
//
// The wire format is package protocol.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/agent/protocol"
	"github.com/faultline-dev/faultline/engine"
	"github.com/faultline-dev/faultline/ledger"
)

// Timeouts of requests and recoveries.
const (
	registerTimeout = 15 * time.Second
	// flushTimeout bounds the last poll an agent sends when it stops.
	flushTimeout = 5 * time.Second
	// recoverTimeout bounds the recovery of one leftover fault.
	recoverTimeout = time.Minute
	// activeWait is the longest hold the agent asks of a poll while it has
	// runs to report on, so their events stream promptly.
	activeWait = time.Second
	// minPollInterval keeps a server that answers at once from making the
	// agent poll in a tight loop.
	minPollInterval = 50 * time.Millisecond
	// defaultLease is the lease when the server grants none: faults are
	// never held without one.
	defaultLease = time.Minute
	// seenAssignments is how many assignment ids the agent remembers, so an
	// assignment sent twice is run once.
	seenAssignments = 1024
)

// Config configures an agent.
type Config struct {
	// Server is the control plane's base URL (http://host:7400).
	Server string
	// Token is a bearer token with the "agent" role, issued for Name.
	Token string
	// Name identifies the agent to the server across restarts (default:
	// the hostname).
	Name   string
	Labels map[string]string
	// Features are what the host can do (default: DetectFeatures()).
	Features []string
	// Version is reported to the server (default: from the build info).
	Version string
	// StateDir holds the agent's ledger (StateDir/ledger.jsonl) and its
	// lock; one agent per directory.
	StateDir string
	// LeaseGrace is how long before the lease runs out the agent halts its
	// runs, so its faults are recovered by the time the server counts the
	// lease as over. It never brings the halt before half the lease.
	LeaseGrace time.Duration
	// Backoff paces attempts to reach the server (default DefaultBackoff).
	Backoff Backoff
	// HTTPClient sends the requests (default: a new client; requests are
	// bounded by their own timeouts).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Agent is one host agent. Run it with Run.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	client  *client
	out     outbox
	ledger  *ledger.Ledger
	renewed chan struct{} // signalled when the lease is renewed

	mu       sync.Mutex
	id       string // empty until registered
	lease    time.Duration
	wait     time.Duration
	contact  time.Time // when the last request the server answered was sent
	lastPoll time.Time
	runs     map[string]*execution
	seen     []string // assignment ids started, oldest first (bounded)
	work     sync.WaitGroup
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Agent, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q is not an http:// or https:// URL", cfg.Server)
	}
	if cfg.Token == "" {
		return nil, errors.New("no token: give the agent a token with the agent role")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("no state directory for the agent's ledger")
	}
	if cfg.Name == "" {
		if cfg.Name, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("name the agent: the hostname is unknown: %w", err)
		}
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	if cfg.Features == nil {
		cfg.Features = DetectFeatures()
	}
	if cfg.Version == "" {
		cfg.Version = buildVersion()
	}
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{
		cfg:     cfg,
		log:     log.With("agent", cfg.Name),
		client:  &client{base: u, token: cfg.Token, userAgent: "faultline-agent/" + cfg.Version, hc: cfg.HTTPClient},
		renewed: make(chan struct{}, 1),
		runs:    map[string]*execution{},
	}, nil
}

func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}

// Run recovers what a previous agent left open in the ledger, then serves
// the server until ctx ends. Ending ctx halts every run; Run returns once
// every fault is recovered and a last poll has told the server (best
// effort).
func (a *Agent) Run(ctx context.Context) error {
	unlock, err := lockStateDir(a.cfg.StateDir)
	if err != nil {
		return err
	}
	defer unlock()
	if a.ledger, err = ledger.Open(filepath.Join(a.cfg.StateDir, "ledger.jsonl")); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.log.Info("starting", "server", a.client.base.Redacted(), "stateDir", a.cfg.StateDir, "labels", a.cfg.Labels, "features", a.cfg.Features, "version", a.cfg.Version)
	// Whatever is open now was left by an agent that died: this process
	// holds the state directory's lock, so no other agent uses the ledger.
	a.recoverLeftovers(ctx, ReasonRestarted)

	watchDone := make(chan struct{})
	go func() { defer close(watchDone); a.watch(ctx) }()
	a.serve(ctx)
	a.work.Wait() // runs halted by ctx have recovered their faults
	<-watchDone
	a.flush()
	return nil
}

// lockStateDir takes an exclusive lock on dir/agent.lock for the agent's
// life, so two agents never share a ledger.
func lockStateDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent state directory: %w", err)
	}
	path := filepath.Join(dir, "agent.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent state directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another faultline agent uses state directory %s; give each agent its own --state-dir", dir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// serve registers, then polls until ctx ends, retrying with backoff while
// the server cannot be reached (and registering again when it forgot the
// agent).
func (a *Agent) serve(ctx context.Context) {
	for failures := 0; ctx.Err() == nil; {
		var err error
		if a.agentID() == "" {
			err = a.register(ctx)
		} else {
			err = a.poll(ctx)
		}
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if isStatus(err, http.StatusNotFound) {
			a.log.Warn("the server does not know this agent any more; registering again", "err", err)
			a.setID("")
		}
		a.mu.Lock()
		lease := a.lease
		a.mu.Unlock()
		d := a.cfg.Backoff.delay(failures, lease, rand.Int64N)
		failures++
		a.log.Warn("cannot reach the server", "err", err, "attempt", failures, "retryIn", d.Round(time.Millisecond))
		if !sleepCtx(ctx, d) {
			return
		}
	}
}

// sleepCtx waits d or until ctx ends, and reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (a *Agent) agentID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

func (a *Agent) setID(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.id = id
}

func (a *Agent) register(ctx context.Context) error {
	_, recovered := a.out.batch()
	r := protocol.Register{
		Name: a.cfg.Name, Labels: a.cfg.Labels, Features: a.cfg.Features,
		Version: a.cfg.Version, Recovered: recovered,
	}
	r.Hostname, _ = os.Hostname()
	rctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	sent := time.Now()
	reg, err := a.client.register(rctx, r)
	if err != nil {
		return err
	}
	a.out.ack(nil, recovered)
	lease, wait := time.Duration(reg.Lease), time.Duration(reg.Wait)
	if lease <= 0 {
		a.log.Warn("the server granted no lease; holding faults under the default lease", "lease", defaultLease)
		lease = defaultLease
	}
	a.mu.Lock()
	a.id, a.wait = reg.AgentID, wait
	a.mu.Unlock()
	a.renew(sent, lease)
	a.log.Info("registered", "id", reg.AgentID, "lease", lease, "wait", wait, "recoveredReported", len(recovered))
	if hold := leaseDeadline(sent, lease, a.cfg.LeaseGrace).Sub(sent); wait >= hold {
		a.log.Warn("the server may hold a poll longer than the agent holds faults without an answer: idle agents will see their lease lapse between polls; make the server's wait shorter than its lease less the grace", "lease", lease, "wait", wait, "grace", a.cfg.LeaseGrace)
	}
	return nil
}

// pollTimeout bounds one long poll: the server's wait, and then some — at
// most half a lease, so a poll lost in a dead connection is given up in
// time to try a new one before the lease runs out.
func pollTimeout(wait, lease time.Duration) time.Duration {
	slack := 10 * time.Second
	if lease > 0 {
		slack = min(slack, lease/2)
	}
	return wait + max(slack, time.Second)
}

func (a *Agent) poll(ctx context.Context) error {
	a.mu.Lock()
	id, wait, lease, last := a.id, a.wait, a.lease, a.lastPoll
	a.mu.Unlock()
	if !sleepCtx(ctx, time.Until(last.Add(minPollInterval))) {
		return ctx.Err()
	}
	events, recovered := a.out.batch()
	p := protocol.Poll{
		Events: events, Running: a.running(events), OpenFaults: a.openFaults(ctx),
		Recovered: recovered, Labels: a.cfg.Labels,
	}
	if len(p.Running) > 0 && (wait == 0 || wait > activeWait) {
		wait = activeWait
		p.Wait = protocol.Duration(wait)
	}
	pctx, cancel := context.WithTimeout(ctx, pollTimeout(wait, lease))
	defer cancel()
	sent := time.Now()
	a.mu.Lock()
	a.lastPoll = sent
	a.mu.Unlock()
	reply, err := a.client.poll(pctx, id, p)
	if err != nil {
		return err
	}
	a.out.ack(events, recovered)
	if n := a.out.takeDropped(); n > 0 {
		a.log.Warn("dropped run events while the server was unreachable; the journals still hold them", "events", n)
	}
	a.renew(sent, time.Duration(reply.Lease))
	a.halt(ctx, reply.Halt, reply.HaltAll)
	for _, asg := range reply.Assignments {
		a.start(ctx, asg)
	}
	return nil
}

// running lists the assignments being executed, and those whose journal
// is queued but not in this poll, so the server never sees an assignment
// neither running nor ended.
func (a *Agent) running(batch []protocol.RunEvent) []string {
	a.mu.Lock()
	ids := make([]string, 0, len(a.runs))
	for id := range a.runs {
		ids = append(ids, id)
	}
	a.mu.Unlock()
	for _, id := range a.out.unsentEnds(batch) { // after the runs: an ending run is in one or the other
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// openFaults is the ledger's list of faults not recovered.
func (a *Agent) openFaults(ctx context.Context) []protocol.OpenFault {
	open, err := a.ledger.Open(ctx)
	if err != nil {
		a.log.Error("cannot read the ledger", "err", err)
		return nil
	}
	out := make([]protocol.OpenFault, 0, len(open))
	for _, o := range open {
		out = append(out, protocol.OpenFault{
			ID: o.ID, Kind: o.Record.Kind, Target: o.Record.Target.String(), RunID: o.Record.Run, Since: o.Record.Created,
		})
	}
	return out
}

// renew records that the server answered a request sent at sent, granting
// lease (0: the lease it granted before).
func (a *Agent) renew(sent time.Time, lease time.Duration) {
	a.mu.Lock()
	if sent.After(a.contact) {
		a.contact = sent
	}
	if lease > 0 {
		a.lease = lease
	}
	a.mu.Unlock()
	select {
	case a.renewed <- struct{}{}:
	default:
	}
}

// watch is the dead man's switch: when the lease runs out without the
// server answering, it halts every run and recovers what is left open,
// once per lapse.
func (a *Agent) watch(ctx context.Context) {
	var lapsed time.Time // the contact whose lease already lapsed
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		a.mu.Lock()
		contact, lease := a.contact, a.lease
		a.mu.Unlock()
		wake := t.C
		switch dl := leaseDeadline(contact, lease, a.cfg.LeaseGrace); {
		case dl.IsZero() || contact.Equal(lapsed):
			wake = nil // no lease yet, or this lapse was handled: wait for news
		case time.Until(dl) > 0:
			t.Reset(time.Until(dl))
		default:
			lapsed = contact
			a.expire(ctx, lease)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-a.renewed:
		case <-wake:
		}
	}
}

// expire halts every run because the lease ran out; the engine recovers
// their faults, and leftovers in the ledger are recovered here.
func (a *Agent) expire(ctx context.Context, lease time.Duration) {
	a.mu.Lock()
	n := len(a.runs)
	for _, e := range a.runs {
		e.halt(ReasonLeaseExpired)
	}
	a.mu.Unlock()
	if n > 0 {
		a.log.Warn("lease expired: the server has not answered for the lease; halting every run and recovering its faults", "lease", lease, "runs", n)
	} else {
		a.log.Info("lease expired: the server has not answered for the lease; no run to halt", "lease", lease)
	}
	a.recoverLeftovers(ctx, ReasonLeaseExpired)
}

// halt halts the listed assignments, or all of them; halting all also
// recovers faults left open by runs that ended.
func (a *Agent) halt(ctx context.Context, ids []string, all bool) {
	a.mu.Lock()
	for id, e := range a.runs {
		if all || slices.Contains(ids, id) {
			a.log.Info("halting", "assignment", id)
			e.halt("halted by the server")
		}
	}
	a.mu.Unlock()
	if all {
		a.work.Go(func() { a.recoverLeftovers(ctx, ReasonHaltAll) })
	}
}

// start runs an assignment unless it was started before.
func (a *Agent) start(ctx context.Context, asg protocol.Assignment) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if slices.Contains(a.seen, asg.ID) {
		a.log.Info("ignoring an assignment already started", "assignment", asg.ID)
		return
	}
	if len(a.seen) == seenAssignments {
		a.seen = a.seen[1:]
	}
	a.seen = append(a.seen, asg.ID)
	rctx, cancel := context.WithCancel(ctx)
	e := &execution{asg: asg, runID: asg.RunID, cancel: cancel}
	if e.runID == "" {
		e.runID = engine.NewRunID()
	}
	a.runs[asg.ID] = e
	a.work.Go(func() {
		defer cancel()
		a.execute(rctx, e)
		a.mu.Lock()
		delete(a.runs, asg.ID) // after its journal is queued: see running
		a.mu.Unlock()
	})
}

// holds reports whether a run being executed is runID.
func (a *Agent) holds(runID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.runs {
		if e.runID == runID {
			return true
		}
	}
	return false
}

// recoverLeftovers recovers, newest first, the faults open in the ledger
// that no run being executed holds — left by an agent that died, or by a
// recovery that failed — and queues them as recovered for reason. A fault
// whose owner is another live faultline process sharing the ledger is
// left to it.
func (a *Agent) recoverLeftovers(ctx context.Context, reason string) {
	open, err := a.ledger.Open(ctx)
	if err != nil {
		a.log.Error("cannot read the ledger to recover what is left open", "err", err)
		return
	}
	self := os.Getpid()
	for _, o := range slices.Backward(open) {
		rec := o.Record
		if a.holds(rec.Run) || (o.OwnerAlive && rec.Owner.PID != self) {
			continue
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverTimeout)
		outcome, err := a.ledger.Recover(rctx, o.ID)
		cancel()
		rf := protocol.RecoveredFault{ID: o.ID, Kind: rec.Kind, RunID: rec.Run, At: time.Now().UTC(), Reason: reason}
		switch {
		case err != nil:
			rf.Error = err.Error()
			a.log.Error("recovery failed: the fault stays open", "fault", o.ID, "kind", rec.Kind, "target", rec.Target.String(), "reason", reason, "err", err)
		case outcome == ledger.AlreadyRecovered:
			continue
		default:
			a.log.Warn("recovered a fault left open", "fault", o.ID, "kind", rec.Kind, "target", rec.Target.String(), "reason", reason)
		}
		a.out.addRecovered(rf)
	}
}

// flush sends one last poll so the server gets the final journals, when
// the agent is registered.
func (a *Agent) flush() {
	if a.agentID() == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	events, recovered := a.out.batch()
	if len(events) == 0 && len(recovered) == 0 {
		return
	}
	p := protocol.Poll{
		Events: events, Running: a.running(events), OpenFaults: a.openFaults(ctx), Recovered: recovered, Labels: a.cfg.Labels,
		Wait: protocol.Duration(time.Millisecond), // answer now: the agent is stopping
	}
	if _, err := a.client.poll(ctx, a.agentID(), p); err != nil {
		a.log.Warn("could not send the last events before stopping", "err", err)
	}
}
