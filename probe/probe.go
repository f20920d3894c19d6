// Package probe holds the checks that measure a system's steady state (http,
// tcp, exec, process, …), the registry of probe kinds, and the judging of a
// measurement against a check's expect block.
package probe

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline/expect"
	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/internal/registry"
)

// Measurement is what one run of a probe observed.
type Measurement struct {
	// Values holds each measure by name (as listed in Info.Measures):
	// float64 for numbers, time.Duration for durations, string for text,
	// any JSON value for values.
	Values map[string]any `json:"values,omitempty"`
	// Err is set when the probe could not measure at all (connection
	// refused, timeout); such a sample fails its check.
	Err string `json:"error,omitempty"`
	// Detail is a short human note (a body excerpt, stderr).
	Detail string `json:"detail,omitempty"`
}

// Kind is one kind of probe.
type Kind interface {
	Info() Info
	NewParams() any
	// Measure runs the probe once. It honours ctx's deadline.
	Measure(ctx context.Context, params any) Measurement
}

// Stopper is implemented by kinds that keep something running between
// samples (the load probe's generator). The engine calls Stop with each
// check's settings once the run is over.
type Stopper interface {
	Stop(params any)
}

// Info describes a probe kind.
type Info struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
	// Measures names what the probe measures and each one's type.
	Measures map[string]expect.Kind `json:"measures"`
	// Primary is the measure a report plots over time (e.g. "latency").
	Primary string `json:"primary,omitempty"`
}

var kinds = registry.New[Kind]("probe kind")

// Register adds a kind; registering a name twice panics.
func Register(k Kind) { kinds.Add(k.Info().Name, k) }

// Lookup returns the kind called name.
func Lookup(name string) (Kind, bool) { return kinds.Lookup(name) }

// Names lists the registered kinds in order.
func Names() []string { return kinds.Names() }

// Def defines a kind whose settings are P; Define turns it into a Kind.
type Def[P any] struct {
	Name     string
	Summary  string
	Measures map[string]expect.Kind
	Primary  string
	Defaults func() P
	Measure  func(ctx context.Context, p *P) Measurement
	// Stop, when set, ends what Measure left running for p (see Stopper).
	Stop func(p *P)
}

// Define registers d.
func Define[P any](d Def[P]) { Register(&defKind[P]{d}) }

type defKind[P any] struct{ d Def[P] }

func (k *defKind[P]) Info() Info {
	return Info{Name: k.d.Name, Summary: k.d.Summary, Measures: k.d.Measures, Primary: k.d.Primary}
}

func (k *defKind[P]) NewParams() any {
	p := new(P)
	if k.d.Defaults != nil {
		*p = k.d.Defaults()
	}
	return p
}

func (k *defKind[P]) Measure(ctx context.Context, params any) Measurement {
	p, ok := params.(*P)
	if !ok {
		return Measurement{Err: fmt.Sprintf("probe %s: settings of type %T", k.d.Name, params)}
	}
	return k.d.Measure(ctx, p)
}

// Stop implements Stopper; it does nothing for kinds without Def.Stop.
func (k *defKind[P]) Stop(params any) {
	if p, ok := params.(*P); ok && k.d.Stop != nil {
		k.d.Stop(p)
	}
}

// StopAll stops whatever the checks' kinds keep running between samples.
func StopAll(checks []*experiment.Check) {
	for _, c := range checks {
		if k, ok := Lookup(c.Probe); ok {
			if s, ok := k.(Stopper); ok {
				s.Stop(c.Params)
			}
		}
	}
}

// Sample is one judged run of a check.
type Sample struct {
	Check string    `json:"check"`
	Time  time.Time `json:"time"`
	// Took is how long the probe ran.
	Took     time.Duration `json:"took"`
	OK       bool          `json:"ok"`
	Failures []string      `json:"failures,omitempty"`
	Measurement
}

// Run measures c once and judges the measurement against c.Expect.
func Run(ctx context.Context, c *experiment.Check) Sample {
	s := Sample{Check: c.Name, Time: time.Now()}
	k, ok := Lookup(c.Probe)
	if !ok {
		s.Err = fmt.Sprintf("unknown probe kind %q", c.Probe)
		s.Failures = []string{s.Err}
		return s
	}
	s.Measurement = k.Measure(ctx, c.Params)
	s.Took = time.Since(s.Time)
	s.OK, s.Failures = Judge(c.Expect, s.Measurement)
	return s
}

// Judge checks a measurement against expectations. A measurement with an
// error fails; so does one missing a judged value.
func Judge(exp []experiment.Expectation, m Measurement) (bool, []string) {
	var fails []string
	if m.Err != "" {
		fails = append(fails, m.Err)
	}
	for _, e := range exp {
		v, ok := m.Values[e.Measure]
		if !ok {
			if m.Err == "" {
				fails = append(fails, fmt.Sprintf("%s: not measured", e.Measure))
			}
			continue
		}
		if !e.Matcher.Match(v) {
			fails = append(fails, fmt.Sprintf("%s %s, want %s", e.Measure, show(v), e.Matcher))
		}
	}
	return len(fails) == 0, fails
}

func show(v any) string {
	switch t := v.(type) {
	case time.Duration:
		return t.Round(time.Microsecond * 10).String()
	case string:
		if len(t) > 80 {
			t = t[:77] + "..."
		}
		return fmt.Sprintf("%q", t)
	case float64:
		return fmt.Sprintf("%g", t)
	}
	return fmt.Sprint(v)
}
