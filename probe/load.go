package probe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline-dev/faultline/expect"
	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/load"
)

// The load probe keeps a load generator running between samples: the
// first Measure of a check starts it, each Measure reports the sliding
// window of its last `window`, and it stops when the run ends (Stop), or on
// its own once no Measure came for loadIdleWindows windows.
const (
	// loadMinRequests is how many answers a new generator's first sample
	// waits for, at most one window; later samples report what there is.
	loadMinRequests = 20
	// loadIdleWindows windows without a Measure stop a generator: the
	// safety net for a run that ended without calling Stop.
	loadIdleWindows = 3
	// loadMinWindow keeps windows long enough to hold a distribution.
	loadMinWindow = 100 * time.Millisecond
)

// LoadParams are the settings of the load probe: one request (url, method,
// headers, body) or several weighted ones (targets). `faultline load
// --scenario FILE` reads the same settings from a file.
type LoadParams struct {
	URL     string            `yaml:"url" json:"url,omitempty"`
	Method  string            `yaml:"method" json:"method,omitempty"`
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	Body    string            `yaml:"body" json:"body,omitempty"`
	Targets []LoadTarget      `yaml:"targets" json:"targets,omitempty"`
	// Rate is requests per second, sent on schedule (open model); 0 makes
	// Concurrency workers loop (closed model).
	Rate        float64 `yaml:"rate" json:"rate"`
	Concurrency int     `yaml:"concurrency" json:"concurrency,omitempty"`
	// Window is the span each sample reports.
	Window  experiment.Duration `yaml:"window" json:"window,omitempty"`
	Timeout experiment.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// ExpectStatus is a tolerance for the statuses that count as success
	// (200, [200, 204], "2xx", "200-299"); default 2xx and 3xx.
	ExpectStatus any `yaml:"expectStatus" json:"expectStatus,omitempty"`
}

// LoadTarget is one of several weighted requests.
type LoadTarget struct {
	// Name labels the target's figures (default: its method and URL).
	Name    string            `yaml:"name" json:"name,omitempty"`
	URL     string            `yaml:"url" json:"url" required:"true"`
	Method  string            `yaml:"method" json:"method,omitempty"`
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	Body    string            `yaml:"body" json:"body,omitempty"`
	// Weight is the target's share relative to the others' (default 1).
	Weight int `yaml:"weight" json:"weight,omitempty"`
}

func init() {
	Define(Def[LoadParams]{
		Name:    "load",
		Summary: "keeps HTTP load running (open model: requests on schedule; or closed: looping workers) and measures the last window: success ratio, rate, latency percentiles, errors",
		Measures: map[string]expect.Kind{
			"successRatio": expect.Number,
			"rate":         expect.Number,
			"p50":          expect.Duration,
			"p90":          expect.Duration,
			"p99":          expect.Duration,
			"p999":         expect.Duration,
			"max":          expect.Duration,
			"errors":       expect.Number,
			"requests":     expect.Number,
		},
		Primary: "p99",
		Defaults: func() LoadParams {
			return LoadParams{
				Rate:        20,
				Concurrency: 1,
				Window:      experiment.Duration(load.DefaultWindow),
				Timeout:     experiment.Duration(2 * time.Second),
			}
		},
		Measure: measureLoad,
		Stop:    stopLoad,
	})
}

// Validate implements experiment.Validator.
func (p *LoadParams) Validate() error {
	var errs []error
	switch {
	case p.URL == "" && len(p.Targets) == 0:
		errs = append(errs, experiment.FieldErrorf("url", "required: the address to load, such as http://127.0.0.1:8080/ (or targets: a list of weighted requests)"))
	case p.URL != "" && len(p.Targets) > 0:
		errs = append(errs, experiment.FieldErrorf("targets", "give url or targets, not both"))
	case len(p.Targets) > 0:
		for _, f := range []struct {
			name string
			set  bool
		}{{"method", p.Method != ""}, {"headers", len(p.Headers) > 0}, {"body", p.Body != ""}} {
			if f.set {
				errs = append(errs, experiment.FieldErrorf(f.name, "with targets, set %s in each target", f.name))
			}
		}
	}
	if p.Concurrency < 1 {
		errs = append(errs, experiment.FieldErrorf("concurrency", "must be at least 1"))
	}
	if p.Window.D() < loadMinWindow {
		errs = append(errs, experiment.FieldErrorf("window", "must be at least %s, such as 5s", loadMinWindow))
	}
	if p.Timeout <= 0 {
		errs = append(errs, experiment.FieldErrorf("timeout", "must be above zero, such as 2s"))
	}
	cfg, err := p.Config() // its targets even when expectStatus is bad
	errs = append(errs, err)
	if len(cfg.Targets) > 0 {
		errs = append(errs, p.fieldErrors(load.Check(cfg)))
	}
	return errors.Join(errs...)
}

// fieldErrors names the problems load found after these settings' fields.
func (p *LoadParams) fieldErrors(err error) error {
	return load.MapFieldErrors(err, func(field, msg string) error {
		if p.URL != "" {
			field = strings.TrimPrefix(field, "targets[0].")
		}
		return experiment.FieldErrorf(field, "%s", msg)
	})
}

// Config is the load generator's configuration for these settings. Its
// one error is a FieldError for a bad expectStatus; Validate reports the
// rest.
func (p *LoadParams) Config() (load.Config, error) {
	cfg := load.Config{
		Rate:        p.Rate,
		Concurrency: p.Concurrency,
		Timeout:     p.Timeout.D(),
		Window:      p.Window.D(),
	}
	if p.URL != "" {
		cfg.Targets = []load.Target{{URL: p.URL, Method: p.Method, Headers: header(p.Headers), Body: p.Body}}
	}
	for _, t := range p.Targets {
		cfg.Targets = append(cfg.Targets, load.Target{Name: t.Name, URL: t.URL, Method: t.Method, Headers: header(t.Headers), Body: t.Body, Weight: t.Weight})
	}
	if p.ExpectStatus != nil {
		m, err := expect.Compile(expect.Number, p.ExpectStatus)
		if err != nil {
			return cfg, experiment.FieldErrorf("expectStatus", "%v: want a status tolerance such as 200, [200, 204], \"2xx\" or \"200-299\"", err)
		}
		cfg.Success = func(status int) bool { return m.Match(float64(status)) }
	}
	return cfg, nil
}

func header(m map[string]string) http.Header {
	h := make(http.Header, len(m))
	for k, v := range m {
		h[k] = []string{v}
	}
	return h
}

// loadRun is a check's generator running in the background.
type loadRun struct {
	gen     *load.Generator
	started time.Time
	window  time.Duration
	last    atomic.Int64 // when the last Measure came, in Unix nanoseconds
	cancel  context.CancelFunc
	done    chan struct{} // closed once the generator has stopped
}

// loadRuns are the running generators by their check's settings: each
// check's settings are one pointer for the whole run.
var loadRuns = struct {
	sync.Mutex
	m map[*LoadParams]*loadRun
}{m: map[*LoadParams]*loadRun{}}

// loadRunFor returns the generator of p, starting it if needed.
func loadRunFor(p *LoadParams) (*loadRun, error) {
	loadRuns.Lock()
	defer loadRuns.Unlock()
	if r, ok := loadRuns.m[p]; ok {
		return r, nil
	}
	cfg, err := p.Config()
	if err != nil {
		return nil, err
	}
	gen, err := load.New(cfg)
	if err != nil {
		return nil, p.fieldErrors(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &loadRun{gen: gen, started: time.Now(), window: cfg.Window, cancel: cancel, done: make(chan struct{})}
	r.last.Store(r.started.UnixNano())
	loadRuns.m[p] = r
	go func() {
		defer close(r.done)
		gen.Run(ctx)
	}()
	go r.stopWhenIdle(ctx, p)
	return r, nil
}

// stopWhenIdle stops the generator once no Measure came for
// loadIdleWindows windows, in case the run ended without calling Stop.
func (r *loadRun) stopWhenIdle(ctx context.Context, p *LoadParams) {
	idle := loadIdleWindows * r.window
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		left := idle - time.Since(time.Unix(0, r.last.Load()))
		if left <= 0 {
			loadRuns.Lock()
			if loadRuns.m[p] == r {
				delete(loadRuns.m, p)
			}
			loadRuns.Unlock()
			r.cancel()
			return
		}
		t.Reset(left)
	}
}

// stopLoad stops the generator of p, if it runs, and waits for it.
func stopLoad(p *LoadParams) {
	loadRuns.Lock()
	r := loadRuns.m[p]
	delete(loadRuns.m, p)
	loadRuns.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
	}
}

func measureLoad(ctx context.Context, p *LoadParams) Measurement {
	r, err := loadRunFor(p)
	if err != nil {
		return Measurement{Err: fmt.Sprintf("load: %v", err)}
	}
	r.last.Store(time.Now().UnixNano())
	s := r.gen.Recent()
	if s.Requests < loadMinRequests && time.Since(r.started) < r.window {
		// A new generator has seen little: wait for a few answers, at
		// most until it has run a whole window.
		poll := time.NewTicker(20 * time.Millisecond)
		defer poll.Stop()
		for s.Requests < loadMinRequests && time.Since(r.started) < r.window {
			select {
			case <-ctx.Done():
				return Measurement{Err: "interrupted: " + context.Cause(ctx).Error()}
			case <-poll.C:
			}
			s = r.gen.Recent()
		}
	}
	m := Measurement{
		Values: map[string]any{
			"requests": float64(s.Requests),
			"errors":   float64(s.ErrorCount()),
			"rate":     s.Rate,
		},
		Detail: s.Describe(),
	}
	if s.Requests == 0 {
		m.Err = fmt.Sprintf("no request completed in the last %s (%d awaiting an answer)", r.window, s.InFlight)
		return m
	}
	m.Values["successRatio"] = s.SuccessRatio
	m.Values["p50"] = s.Latency.P50
	m.Values["p90"] = s.Latency.P90
	m.Values["p99"] = s.Latency.P99
	m.Values["p999"] = s.Latency.P999
	m.Values["max"] = s.Latency.Max
	return m
}
