package engine

import (
	"sync"
	"time"

	"github.com/faultline-dev/faultline/expect"
	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/probe"
)

// Observer sees a run as it happens (the CLI prints progress from it).
// Calls come from several goroutines, one at a time.
type Observer interface {
	Event(e journal.Event)
	Sample(series *journal.Series, s journal.Sample)
}

// recorder builds the journal while the run goes, safely from many
// goroutines, and forwards what it records to the observer.
type recorder struct {
	mu     sync.Mutex
	start  time.Time // carries the monotonic clock reading
	j      *journal.Journal
	x      *experiment.Experiment
	obs    Observer
	series map[string]*journal.Series
}

func newRecorder(x *experiment.Experiment, j *journal.Journal, obs Observer) *recorder {
	return &recorder{start: time.Now(), j: j, x: x, obs: obs, series: map[string]*journal.Series{}}
}

// since is the offset of t from the start of the run, in seconds.
func (r *recorder) since(t time.Time) float64 { return t.Sub(r.start).Seconds() }

func (r *recorder) now() float64 { return r.since(time.Now()) }

func (r *recorder) event(e journal.Event) {
	now := time.Now()
	e.At, e.Time = r.since(now), now.UTC()
	e.Message = r.x.Redact(e.Message)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.j.Events = append(r.j.Events, e)
	if r.obs != nil {
		r.obs.Event(e)
	}
}

// addSeries registers a check's time series.
func (r *recorder) addSeries(kind string, c *experiment.Check) {
	s := &journal.Series{Check: c.Name, Probe: c.Probe, Kind: kind}
	if k, ok := probe.Lookup(c.Probe); ok {
		info := k.Info()
		s.Measure = plotted(info.Primary, c.Expect)
		if info.Measures[s.Measure] == expect.Duration {
			s.Unit = "s"
		}
	}
	for _, e := range c.Expect {
		if e.Measure == s.Measure {
			s.Tolerance = e.Matcher.String()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.series[kind+"/"+c.Name] = s
	r.j.Checks = append(r.j.Checks, s)
}

// plotted is the measure a check's chart shows: the probe's primary one
// when the check judges it or judges nothing, else the first it judges.
func plotted(primary string, exp []experiment.Expectation) string {
	if len(exp) == 0 {
		return primary
	}
	for _, e := range exp {
		if e.Measure == primary {
			return primary
		}
	}
	return exp[0].Measure
}

// sample records one judged probe run in its check's series.
func (r *recorder) sample(kind string, phase experiment.Phase, ps probe.Sample) journal.Sample {
	js := journal.Sample{
		At: r.since(ps.Time), Phase: string(phase), OK: ps.OK, Took: ps.Took.Seconds(),
		Failures: ps.Failures, Error: ps.Err,
	}
	if len(ps.Values) > 0 {
		js.Values = map[string]any{}
		for k, v := range ps.Values {
			switch t := v.(type) {
			case time.Duration:
				js.Values[k] = t.Seconds()
			case string:
				js.Values[k] = r.x.Redact(truncate(t, 512))
			default:
				js.Values[k] = v
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.series[kind+"/"+ps.Check]
	if s == nil {
		return js
	}
	if v, ok := js.Values[s.Measure].(float64); ok {
		js.Value = &v
	}
	s.Samples = append(s.Samples, js)
	if r.obs != nil {
		r.obs.Sample(s, js)
	}
	return js
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// hit records a fault applied to a target and returns its index.
func (r *recorder) hit(h journal.Hit) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.j.Targets = append(r.j.Targets, h)
	return len(r.j.Targets) - 1
}

func (r *recorder) hitRecovered(i int, errMsg string) {
	at := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	h := &r.j.Targets[i]
	if errMsg != "" {
		h.Error = errMsg
		return
	}
	h.RecoveredAt = &at
}

// Observers fans events and samples out to several observers, in order.
func Observers(obs ...Observer) Observer { return observers(obs) }

type observers []Observer

func (os observers) Event(e journal.Event) {
	for _, o := range os {
		o.Event(e)
	}
}

func (os observers) Sample(s *journal.Series, smp journal.Sample) {
	for _, o := range os {
		o.Sample(s, smp)
	}
}
