package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/faultline-dev/faultline/journal"
)

// progress prints a run for humans on stderr as it happens.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	quiet  bool
	color  bool
	active map[string]journal.Event // injected faults not yet recovered, by id
}

func newProgress(w io.Writer, quiet bool) *progress {
	return &progress{w: w, quiet: quiet, color: isTerminal(w), active: map[string]journal.Event{}}
}

// faults says which faults are in place and how long they have left.
func (p *progress) faults(now float64) string {
	if len(p.active) == 0 {
		return ""
	}
	var first journal.Event
	for _, e := range p.active {
		if first.FaultID == "" || e.At < first.At {
			first = e
		}
	}
	s := fmt.Sprintf("%s on %s", first.Fault, first.Target)
	if n := len(p.active); n > 1 {
		s = fmt.Sprintf("%d faults in place, first %s", n, s)
	}
	if first.Ends != nil {
		s += fmt.Sprintf(", %.1fs left", max(0, *first.Ends-now))
	} else {
		s += ", until the method ends"
	}
	return "  [" + s + "]"
}

func (p *progress) paint(code, s string) string {
	if !p.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p *progress) Event(e journal.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var line string
	switch e.Type {
	case journal.PhaseStarted:
		line = p.paint("1", "== "+e.Message)
	case journal.StepStarted:
		if e.Phase == "plan" {
			line = "   plan: " + e.Message
		} else {
			line = fmt.Sprintf("-> step %q: %s", e.Step, e.Message)
		}
	case journal.Injecting:
		if p.quiet {
			return
		}
		line = fmt.Sprintf("   injecting %s into %s (%s)", e.Fault, e.Target, e.Message)
	case journal.Injected:
		p.active[e.FaultID] = e
		line = p.paint("33", fmt.Sprintf("   injected %s into %s", e.Fault, e.Target))
		if e.Ends != nil {
			line += fmt.Sprintf(" until %.2fs", *e.Ends)
		}
	case journal.Recovered:
		delete(p.active, e.FaultID)
		line = p.paint("32", fmt.Sprintf("   recovered %s on %s", e.Fault, e.Target))
		if e.Message != "recovered" {
			line += " (" + e.Message + ")"
		}
	case journal.InjectFailed, journal.RecoverFailed, journal.ErrorEvent:
		if e.Type == journal.RecoverFailed {
			delete(p.active, e.FaultID)
		}
		line = p.paint("31", fmt.Sprintf("   %s %s %s: %s", e.Type, e.Fault, e.Target, e.Message))
	case journal.StopCondition, journal.Halt:
		line = p.paint("31;1", "!! "+e.Message)
	case journal.CheckFailed:
		line = p.paint("31", fmt.Sprintf("   check %q failed: %s", e.Check, e.Message))
	case journal.CheckRecovered:
		line = p.paint("32", fmt.Sprintf("   check %q holds again", e.Check))
	case journal.Rollback:
		line = fmt.Sprintf("   rollback %q: %s", e.Check, e.Message)
	case journal.Verdict:
		return // printed by verdict, after the journal is written
	default:
		line = fmt.Sprintf("   %s: %s", e.Type, e.Message)
	}
	fmt.Fprintf(p.w, "[%7.2fs] %s\n", e.At, line)
}

func (p *progress) Sample(s *journal.Series, smp journal.Sample) {
	if p.quiet && smp.OK {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	mark := p.paint("32", "ok  ")
	if !smp.OK {
		mark = p.paint("31", "FAIL")
	}
	detail := ""
	if smp.Value != nil {
		if s.Unit == "s" {
			detail = fmt.Sprintf(" %s=%.1fms", s.Measure, *smp.Value*1000)
		} else {
			detail = fmt.Sprintf(" %s=%g", s.Measure, *smp.Value)
		}
	}
	if !smp.OK {
		detail += ": " + strings.Join(smp.Failures, ", ")
	}
	kind := ""
	if s.Kind == "stop" {
		kind = "stop "
	}
	fmt.Fprintf(p.w, "[%7.2fs]    %s %s%-7s %s%s%s\n", smp.At, mark, kind, smp.Phase, s.Check, detail, p.faults(smp.At))
}

func (p *progress) verdict(j *journal.Journal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	code := map[journal.Status]string{journal.Held: "32;1", journal.Deviated: "31;1", journal.Aborted: "33;1"}[j.Status]
	fmt.Fprintf(p.w, "%s %s\n", p.paint(code, strings.ToUpper(string(j.Status))), j.Reason)
	m := j.Metrics
	var parts []string
	if m.TimeToDetect != nil {
		parts = append(parts, fmt.Sprintf("time to detect %.2fs", *m.TimeToDetect))
	}
	if m.TimeToRecover != nil {
		parts = append(parts, fmt.Sprintf("time to recover %.2fs", *m.TimeToRecover))
	}
	if m.Impact.Samples > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d samples failed", m.Impact.FailedSamples, m.Impact.Samples))
	}
	parts = append(parts, fmt.Sprintf("%d/%d faults recovered", m.Impact.FaultsRecovered, m.Impact.FaultsInjected))
	fmt.Fprintln(p.w, "   "+strings.Join(parts, ", "))
}
