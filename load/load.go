// Package load is an HTTP/1.1 load generator and its statistics, behind
// `faultline load` and the load probe.
//
// In the open model (Rate > 0) requests are due at fixed intervals and are
// sent when due whether or not earlier ones were answered: a pool of
// workers grows whenever a request is due and every worker is busy, up to
// MaxInFlight; the workers share each endpoint's kept-alive connections.
// A request that had to wait for a free worker has its latency counted
// from the time it was due, so a stalled server cannot hide behind the
// requests it kept from being sent (coordinated omission). The scheduler's own wake-up
// slack (Linux timers fire a fraction of a millisecond late) is not charged
// to the server. In the closed model (Rate 0) Concurrency workers each send
// their next request as soon as the previous one is answered.
//
// Targets are picked by weight in a fixed interleaved order (smooth
// weighted round robin), so shares are exact over each cycle. Latencies go
// into HdrHistograms, for the whole run and for a sliding window made of
// ten rotating slots; each target's latencies also go into a histogram of
// its own for the whole run, when there are several.
package load

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a Config.
const (
	DefaultTimeout = 5 * time.Second
	DefaultWindow  = 5 * time.Second
	// maxWorkers caps the default MaxInFlight.
	maxWorkers = 10000
	// maxWeight caps a target's weight: weights are relative shares.
	maxWeight = 1000
	// maxRate is far above what one machine sends.
	maxRate = 10_000_000
)

// Target is a request the generator sends, with its share of the load.
type Target struct {
	// Name labels the target's figures (default: its method and URL).
	Name    string
	URL     string
	Method  string // default GET
	Headers http.Header
	Body    string
	// Weight is the target's share relative to the others' (default 1).
	Weight int
}

// Config configures a Generator.
type Config struct {
	Targets []Target
	// Rate is how many requests per second are sent, in the open model;
	// 0 selects the closed model.
	Rate float64
	// Concurrency is, in the closed model, the number of workers, each
	// sending its next request as soon as the previous one is answered; in
	// the open model, the workers started up front (default 1).
	Concurrency int
	// MaxInFlight caps the open model's workers, and so the requests
	// awaiting an answer (default: enough for Rate over Timeout, at most
	// 10000).
	MaxInFlight int
	// Duration is how long requests are sent; 0 sends until the context
	// given to Run ends.
	Duration time.Duration
	// Timeout bounds a request, from its send (or due) time to the last
	// byte of its answer (default 5s).
	Timeout time.Duration
	// Window is the span Recent covers (default 5s).
	Window time.Duration
	// Success reports whether a status counts as a success (default 2xx
	// and 3xx).
	Success func(status int) bool
	// TLS configures https targets (default: the system's roots).
	TLS *tls.Config
	// Logger gets diagnostics (optional).
	Logger *slog.Logger
}

// FieldError is a problem with one setting, named as in Config with a
// lower-case first letter ("rate", "targets[1].url").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// MapFieldErrors rewrites every FieldError that err holds (alone or joined
// with errors.Join) with to, which gets its field and message; other errors
// are kept as they are. Callers use it to name fields as their users wrote
// them (a flag, a document field).
func MapFieldErrors(err error, to func(field, msg string) error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) {
			e = to(fe.Field, fe.Msg)
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// prefixed renames the FieldErrors in errs as fields of prefix.
func prefixed(prefix string, errs []error) []error {
	var out []error
	for _, e := range errs {
		var fe *FieldError
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			out = append(out, prefixed(prefix, j.Unwrap())...)
		} else if errors.As(e, &fe) {
			out = append(out, &FieldError{Field: prefix + "." + fe.Field, Msg: fe.Msg})
		} else {
			out = append(out, e)
		}
	}
	return out
}

// Generator sends load as its Config says and keeps the statistics.
type Generator struct {
	cfg       Config
	log       *slog.Logger
	endpoints []endpoint
	tls       []*tls.Config // by endpoint; nil for plain http
	requests  []request     // by target
	order     []uint16      // targets in weighted interleaved order
	next      atomic.Uint64 // position in order
	rec       *recorder
	inFlight  atomic.Int64
	ran       atomic.Bool

	pools []*pool        // by endpoint
	dials sync.WaitGroup // dials under way
	// runCtx is the running Run's context: dials outlive the requests
	// that start them, and are bounded by the run instead.
	runCtx context.Context

	mu    sync.Mutex
	conns map[*conn]struct{} // open connections, to cut short when the run is cancelled
}

// New checks cfg and prepares its requests. The errors are FieldErrors.
func New(cfg Config) (*Generator, error) {
	g, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	g.rec = newRecorder(g.cfg.Window, g.cfg.Success, len(g.requests))
	return g, nil
}

// Check reports the problems New would find in cfg, without preparing a
// generator.
func Check(cfg Config) error {
	_, err := prepare(cfg)
	return err
}

// prepare checks cfg, fills in its defaults and serialises its requests:
// a Generator but for its recorder.
func prepare(cfg Config) (*Generator, error) {
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 1)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.Window = cmp.Or(cfg.Window, DefaultWindow)
	if cfg.Success == nil {
		cfg.Success = func(status int) bool { return status >= 200 && status < 400 }
	}
	if cfg.MaxInFlight == 0 && cfg.Rate > 0 && cfg.Rate <= maxRate {
		cfg.MaxInFlight = min(maxWorkers, max(cfg.Concurrency, int(math.Ceil(cfg.Rate*cfg.Timeout.Seconds()))))
	}
	g := &Generator{cfg: cfg, log: cfg.Logger, conns: map[*conn]struct{}{}}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}

	var errs []error
	if len(cfg.Targets) == 0 {
		errs = append(errs, fieldErrorf("targets", "no target: give at least one URL"))
	}
	byAddr := map[endpoint]int{}
	weights := make([]int, len(cfg.Targets))
	for i, t := range cfg.Targets {
		e, raw, err := parseTarget(t)
		terrs := []error{err}
		if t.Weight < 0 || t.Weight > maxWeight {
			terrs = append(terrs, fieldErrorf("weight", "%d is outside 1..%d: weights are shares relative to each other's", t.Weight, maxWeight))
		}
		if err := errors.Join(terrs...); err != nil {
			errs = append(errs, prefixed(fmt.Sprintf("targets[%d]", i), []error{err})...)
			continue
		}
		idx, ok := byAddr[e]
		if !ok {
			idx = len(g.endpoints)
			byAddr[e] = idx
			g.endpoints = append(g.endpoints, e)
			var tc *tls.Config
			if e.tls {
				tc = cfg.TLS.Clone()
				if tc == nil {
					tc = &tls.Config{}
				}
				tc.ServerName = cmp.Or(tc.ServerName, e.host)
				tc.NextProtos = []string{"http/1.1"}
			}
			g.tls = append(g.tls, tc)
		}
		g.requests = append(g.requests, request{raw: raw, noBody: cmp.Or(t.Method, http.MethodGet) == http.MethodHead, endpoint: idx})
		weights[i] = cmp.Or(t.Weight, 1)
	}
	if math.IsNaN(cfg.Rate) || cfg.Rate < 0 || cfg.Rate > maxRate {
		errs = append(errs, fieldErrorf("rate", "%g is outside 0..%d requests per second (0 selects the closed model)", cfg.Rate, maxRate))
	}
	if cfg.Concurrency < 0 {
		errs = append(errs, fieldErrorf("concurrency", "must not be negative"))
	}
	if cfg.Rate > 0 && cfg.MaxInFlight < cfg.Concurrency {
		errs = append(errs, fieldErrorf("maxInFlight", "%d is below concurrency %d", cfg.MaxInFlight, cfg.Concurrency))
	}
	if cfg.Duration < 0 {
		errs = append(errs, fieldErrorf("duration", "must not be negative (0 runs until stopped)"))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fieldErrorf("timeout", "must be above zero, such as 2s"))
	}
	if cfg.Window < 0 {
		errs = append(errs, fieldErrorf("window", "must be above zero, such as 5s"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	g.order = weightedOrder(weights)
	for i := range g.endpoints {
		g.pools = append(g.pools, &pool{g: g, endpoint: i})
	}
	return g, nil
}

// weightedOrder interleaves target indexes so each appears in proportion
// to its weight over one cycle, spread out (smooth weighted round robin).
func weightedOrder(weights []int) []uint16 {
	d := 0
	for _, w := range weights {
		d = gcd(d, w)
	}
	total := 0
	for i := range weights {
		weights[i] /= d
		total += weights[i]
	}
	order := make([]uint16, 0, total)
	current := make([]int, len(weights))
	for range total {
		best := 0
		for i, w := range weights {
			current[i] += w
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		order = append(order, uint16(best))
	}
	return order
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// pick returns the index of the next target.
func (g *Generator) pick() int {
	return int(g.order[(g.next.Add(1)-1)%uint64(len(g.order))])
}

// Total returns the figures of the run so far, with each target's when
// there are several.
func (g *Generator) Total() Stats {
	s := g.rec.totals(time.Now())
	s.InFlight = g.inFlight.Load()
	for i := range s.Targets {
		t := &s.Targets[i]
		c := g.cfg.Targets[i]
		t.Method, t.URL, t.Weight = cmp.Or(c.Method, http.MethodGet), c.URL, cmp.Or(c.Weight, 1)
		t.Name = cmp.Or(c.Name, t.Method+" "+t.URL)
	}
	return s
}

// Recent returns the figures of the last Window.
func (g *Generator) Recent() Stats {
	s := g.rec.window(time.Now())
	s.InFlight = g.inFlight.Load()
	return s
}

// Run sends the load until Duration has passed or ctx ends, waits for the
// requests in flight (each bounded by Timeout; cancelling ctx cuts them
// short and leaves them uncounted) and returns the figures of the whole
// run. A Generator runs once.
func (g *Generator) Run(ctx context.Context) Stats {
	if !g.ran.CompareAndSwap(false, true) {
		panic("load: Generator.Run called twice")
	}
	start := time.Now()
	g.rec.begin(start)
	var end time.Time
	if g.cfg.Duration > 0 {
		end = start.Add(g.cfg.Duration)
	}
	defer context.AfterFunc(ctx, g.interrupt)()
	runCtx, cancel := context.WithCancel(ctx)
	g.runCtx = runCtx // for dials, which outlive the requests that start them
	if g.cfg.Rate > 0 {
		g.runOpen(runCtx, start, end)
	} else {
		g.runClosed(runCtx, end)
	}
	total := g.Total()
	// Every request is done: abandon the dials still under way, and close
	// the connections.
	cancel()
	g.dials.Wait()
	for _, p := range g.pools {
		p.closeIdle()
	}
	return total
}

// job is a request to send: a target, and the time its latency counts
// from.
type job struct {
	target int
	from   time.Time
}

// runOpen sends requests at Rate until end (zero: until ctx ends).
func (g *Generator) runOpen(ctx context.Context, start, end time.Time) {
	var (
		pool    = idlePool{freed: make(chan struct{}, 1)}
		workers []*worker
		wg      sync.WaitGroup
		warned  bool
	)
	spawn := func() *worker {
		w := &worker{g: g, jobs: make(chan job, 1)} // it is only sent a job while idle
		workers = append(workers, w)
		wg.Go(func() {
			for j := range w.jobs {
				w.send(ctx, j)
				pool.push(w)
			}
		})
		return w
	}
	for range g.cfg.Concurrency {
		pool.push(spawn())
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	interval := float64(time.Second) / g.cfg.Rate
loop:
	for k := 0; ; k++ {
		due := start.Add(time.Duration(float64(k) * interval))
		if !end.IsZero() && !due.Before(end) {
			break
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break loop
			}
		}
		j := job{target: g.pick(), from: time.Now()}
		w := pool.pop()
		if w == nil && len(workers) < g.cfg.MaxInFlight {
			w = spawn()
		}
		if w == nil {
			// Every worker is busy: the request waits for one, and its
			// latency (and its timeout) counts from when it was due.
			if !warned {
				warned = true
				g.log.Warn("load: every allowed worker is busy; due requests wait for a free one", "maxInFlight", len(workers))
			}
			j.from = due
			for w == nil {
				select {
				case <-pool.freed:
					w = pool.pop()
				case <-ctx.Done():
					break loop
				}
			}
		}
		w.jobs <- j
	}
	for _, w := range workers {
		close(w.jobs)
	}
	wg.Wait()
}

// idlePool holds the open model's idle workers. It is a stack: the worker
// that fell idle last is used first, so the extra workers a burst brought
// fall idle again and the goroutines in use stay few and warm.
type idlePool struct {
	mu    sync.Mutex
	idle  []*worker
	freed chan struct{} // signalled when a worker falls idle
}

func (p *idlePool) push(w *worker) {
	p.mu.Lock()
	p.idle = append(p.idle, w)
	p.mu.Unlock()
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

// pop returns the worker that fell idle last, or nil.
func (p *idlePool) pop() *worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	w := p.idle[n-1]
	p.idle = p.idle[:n-1]
	return w
}

// runClosed keeps Concurrency requests in flight until end (zero: until
// ctx ends).
func (g *Generator) runClosed(ctx context.Context, end time.Time) {
	var wg sync.WaitGroup
	for range g.cfg.Concurrency {
		wg.Go(func() {
			w := &worker{g: g}
			for ctx.Err() == nil {
				now := time.Now()
				if !end.IsZero() && !now.Before(end) {
					return
				}
				w.send(ctx, job{target: g.pick(), from: now})
			}
		})
	}
	wg.Wait()
}

// worker sends one request at a time, on the kept-alive connections the
// workers share.
type worker struct {
	g    *Generator
	jobs chan job // open model: the next request, handed over while idle
}

// send makes one exchange and records it. A failure caused by the run
// being cancelled is not the target's doing and is not recorded.
func (w *worker) send(ctx context.Context, j job) {
	g := w.g
	if ctx.Err() != nil {
		return // cancelled after the request was handed over
	}
	g.inFlight.Add(1)
	status, err := g.exchange(ctx, &g.requests[j.target], j.from.Add(g.cfg.Timeout))
	g.inFlight.Add(-1)
	if err != nil && ended(ctx) {
		return
	}
	g.rec.record(j.target, j.from, time.Now(), status, err)
}

// ended reports whether ctx is done, or past its deadline: a dial bounded
// by that deadline can fail before ctx's own timer has marked it done.
func ended(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ctx.Err() != nil || (ok && !time.Now().Before(d))
}
