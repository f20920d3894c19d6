// Package experiment is the experiment document: its types, decoding from
// YAML or JSON with file:line:column positions, defaults and validation.
//
// The document is Kubernetes-shaped (apiVersion, kind, metadata, spec) so the
// same file runs from the CLI, on the control plane and as a custom resource.
// Fault parameters and probe settings are typed by the fault and probe
// packages; this package reaches them through a Catalog so it depends on
// neither.
package experiment

import (
	"encoding/json"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/expect"
)

// APIVersion and Kind are the only accepted values of the header fields.
const (
	APIVersion = "faultline.dev/v1alpha1"
	Kind       = "Experiment"
)

// Defaults applied when the document leaves a field out.
const (
	DefaultEvery         = time.Second
	DefaultRecoverWithin = 30 * time.Second
	DefaultStableSamples = 3
)

// Experiment is one decoded, validated document.
type Experiment struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       Spec     `yaml:"spec" json:"spec"`

	// File is where the document was read from ("" for other sources).
	File string `yaml:"-" json:"-"`
	// Secrets maps environment values substituted into the document to the
	// ${env:NAME} reference they came from, so records can redact them.
	Secrets map[string]string `yaml:"-" json:"-"`
}

// Metadata names and labels the experiment.
type Metadata struct {
	Name        string            `yaml:"name" json:"name"`
	Labels      map[string]string `yaml:"labels" json:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations" json:"annotations,omitempty"`
}

// Spec is what the experiment does.
type Spec struct {
	// Configuration holds values the rest of the document refers to as
	// ${name}; a value may itself be ${env:NAME}.
	Configuration map[string]string `yaml:"configuration" json:"configuration,omitempty"`
	Hypothesis    *Hypothesis       `yaml:"hypothesis" json:"hypothesis,omitempty"`
	Method        []Step            `yaml:"method" json:"method"`
	StopWhen      []Check           `yaml:"stopWhen" json:"stopWhen,omitempty"`
	Rollbacks     []Check           `yaml:"rollbacks" json:"rollbacks,omitempty"`
	// Proxies are fault proxies faultline runs for the experiment, from
	// the pre-check to the end of the run; proxy.* faults act on them by
	// name.
	Proxies []Proxy `yaml:"proxies" json:"proxies,omitempty"`
}

// Hypothesis is the steady state: checks that must hold before, during and
// after the method.
type Hypothesis struct {
	Every         Duration `yaml:"every" json:"every"`
	RecoverWithin Duration `yaml:"recoverWithin" json:"recoverWithin"`
	// StableSamples is how many rounds in a row every check must pass
	// after recovery for the steady state to count as back (default 3).
	StableSamples int     `yaml:"stableSamples" json:"stableSamples"`
	Checks        []Check `yaml:"checks" json:"checks"`
}

// Phase names when a check runs.
type Phase string

// The phases of a run in which hypothesis checks are sampled.
const (
	Before Phase = "before"
	During Phase = "during"
	After  Phase = "after"
)

// Check is a probe with its tolerances. The same shape serves hypothesis
// checks, stop conditions (with For), probe steps and rollback actions.
type Check struct {
	Name string `json:"name"`
	// Probe is the probe kind ("http", "tcp", "exec", "process", …).
	Probe string `json:"probe"`
	// Params is the probe's typed settings, as its kind decoded them.
	Params any `json:"-"`
	// RawParams is the settings as written, for journals.
	RawParams json.RawMessage `json:"params"`
	Expect    []Expectation   `json:"expect,omitempty"`
	// Phases limits a hypothesis check to some phases (default: all).
	Phases []Phase `json:"phases,omitempty"`
	// For is how long a stop condition must be violated before it aborts.
	For Duration `json:"for,omitempty"`
	// Every overrides how often a stop condition is sampled.
	Every Duration `json:"every,omitempty"`

	Pos         Pos `json:"-"`
	expectGiven bool
}

// Expectation is one named tolerance of an expect block.
type Expectation struct {
	Measure string         `json:"measure"`
	Matcher expect.Matcher `json:"-"`
	Source  any            `json:"tolerance"`
	Pos     Pos            `json:"-"`
}

// Step is one step of the method: exactly one of a fault, a probe, a wait or
// a parallel group.
type Step struct {
	Name string `json:"name"`

	Fault     string          `json:"fault,omitempty"`
	Target    *Target         `json:"target,omitempty"`
	Params    any             `json:"-"`
	RawParams json.RawMessage `json:"params,omitempty"`
	// Duration is how long the fault stays before it is recovered; zero
	// keeps it until the end of the method.
	Duration Duration `json:"duration,omitempty"`

	Probe    *Check   `json:"probe,omitempty"`
	Wait     Duration `json:"wait,omitempty"`
	Parallel []Step   `json:"parallel,omitempty"`

	Pos Pos `json:"-"`
	// paramsNode and faultNode place errors found once the whole
	// document is decoded; paramsValid says the parameters passed their
	// own validation.
	paramsNode, faultNode *yaml.Node
	paramsValid           bool
}

// StepKind names what a step does.
type StepKind string

// The kinds of step.
const (
	FaultStep    StepKind = "fault"
	ProbeStep    StepKind = "probe"
	WaitStep     StepKind = "wait"
	ParallelStep StepKind = "parallel"
)

// Kind tells what the step does.
func (s *Step) Kind() StepKind {
	switch {
	case s.Fault != "":
		return FaultStep
	case s.Probe != nil:
		return ProbeStep
	case len(s.Parallel) > 0:
		return ParallelStep
	default:
		return WaitStep
	}
}

// Target selects what a fault acts on, and how many of the matches. It has
// exactly one selector: process, host or netns.
type Target struct {
	Process *ProcessSelector `yaml:"process" json:"process,omitempty"`
	// Host selects this host's own network stack (network faults).
	Host *HostSelector `yaml:"host" json:"host,omitempty"`
	// Netns selects a named network namespace (network faults).
	Netns *NetnsSelector `yaml:"netns" json:"netns,omitempty"`
	// Mode is one, all, fixed:N or percent:N (default one).
	Mode       string `yaml:"mode" json:"mode,omitempty"`
	MaxTargets int    `yaml:"maxTargets" json:"maxTargets,omitempty"`
	// Seed makes the pick deterministic.
	Seed *int64 `yaml:"seed" json:"seed,omitempty"`

	Pos Pos `yaml:"-" json:"-"`
}

// ProcessSelector matches local processes; every field given must match.
type ProcessSelector struct {
	PID     int    `yaml:"pid" json:"pid,omitempty"`
	Name    string `yaml:"name" json:"name,omitempty"`
	Cmdline Regexp `yaml:"cmdline" json:"cmdline,omitzero"`
	PIDFile string `yaml:"pidfile" json:"pidfile,omitempty"`
	User    string `yaml:"user" json:"user,omitempty"`
}

// HostSelector selects the host's network stack, optionally one interface
// (default: the interface of the default route).
type HostSelector struct {
	Interface string `yaml:"interface" json:"interface,omitempty"`
}

// NetnsSelector selects a network namespace by its name under /run/netns
// (as `ip netns` names it), optionally one interface in it (default: the
// interface of its default route).
type NetnsSelector struct {
	Name      string `yaml:"name" json:"name"`
	Interface string `yaml:"interface" json:"interface,omitempty"`
}

// Selector names the target's selector: "process", "host", "netns", or ""
// for none.
func (t *Target) Selector() string {
	switch {
	case t.Process != nil:
		return "process"
	case t.Host != nil:
		return "host"
	case t.Netns != nil:
		return "netns"
	}
	return ""
}

// Pos is a position in the source document.
type Pos struct {
	File   string
	Line   int
	Column int
	Field  string
}

// Errorf makes an Error at this position.
func (p Pos) Errorf(format string, args ...any) *Error {
	e := &Error{File: p.File, Line: p.Line, Column: p.Column, Field: p.Field}
	e.Msg = sprintf(format, args...)
	return e
}

// Checks lists every check of the document: hypothesis checks, stop
// conditions, rollbacks and probe steps (also inside parallel groups).
func (x *Experiment) Checks() []*Check {
	var out []*Check
	if h := x.Spec.Hypothesis; h != nil {
		for i := range h.Checks {
			out = append(out, &h.Checks[i])
		}
	}
	for i := range x.Spec.StopWhen {
		out = append(out, &x.Spec.StopWhen[i])
	}
	for i := range x.Spec.Rollbacks {
		out = append(out, &x.Spec.Rollbacks[i])
	}
	var steps func([]Step)
	steps = func(ss []Step) {
		for i := range ss {
			if ss[i].Probe != nil {
				out = append(out, ss[i].Probe)
			}
			steps(ss[i].Parallel)
		}
	}
	steps(x.Spec.Method)
	return out
}

// Redact replaces every secret value substituted from the environment with
// the reference it came from.
func (x *Experiment) Redact(s string) string {
	for v, ref := range x.Secrets {
		s = strings.ReplaceAll(s, v, ref)
	}
	return s
}
