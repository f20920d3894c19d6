package server

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/store"
)

// part is one agent's share of a run.
type part struct {
	agent string
	asg   store.Assignment
}

// severity orders verdicts: the run's is its worst agent's.
var severity = map[journal.Status]int{journal.Held: 0, journal.Deviated: 1, journal.Invalid: 2, journal.Aborted: 3}

// mergeJournals makes the journal of a run on agents from its assignments'
// journals: one timeline (each agent's offsets shifted to the run's
// start), events, series and targets named by agent, summed metrics, and
// the worst verdict. An assignment without a journal (its agent was lost,
// or the run was halted before the agent got it) counts as aborted.
func mergeJournals(run store.Run, parts []part, now time.Time) *journal.Journal {
	type got struct {
		part
		j *journal.Journal
	}
	var gots []got
	for _, p := range parts {
		g := got{part: p}
		if len(p.asg.Journal) > 0 {
			var j journal.Journal
			if err := json.Unmarshal(p.asg.Journal, &j); err == nil {
				g.j = &j
			}
		}
		gots = append(gots, g)
	}
	out := &journal.Journal{
		APIVersion: journal.APIVersion, Run: run.ID, Name: run.Experiment, DryRun: run.DryRun,
		Started: run.Started, Ended: now,
		Events: []journal.Event{}, Checks: []*journal.Series{}, Targets: []journal.Hit{},
	}
	if out.Started.IsZero() {
		out.Started = run.Created
	}
	for _, g := range gots {
		if g.j != nil && g.j.Started.Before(out.Started) {
			out.Started = g.j.Started
		}
	}
	status := journal.Held
	var reasons, names []string
	counts := map[journal.Status]int{}
	m := &out.Metrics
	for _, g := range gots {
		names = append(names, g.agent)
		st, reason := journal.Aborted, missingReason(g.asg)
		if g.j != nil {
			st, reason = g.j.Status, g.j.Reason
			if out.Experiment == nil {
				out.Experiment = g.j.Experiment
			}
			if !g.j.Ended.IsZero() && g.j.Ended.After(out.Ended) {
				out.Ended = g.j.Ended
			}
			shift := g.j.Started.Sub(out.Started).Seconds()
			addJournal(out, g.agent, g.j, shift)
			mergeMetrics(m, g.j.Metrics)
		} else {
			out.Events = append(out.Events, journal.Event{At: now.Sub(out.Started).Seconds(), Time: now, Type: journal.ErrorEvent,
				Target: g.agent, Message: fmt.Sprintf("[%s] %s", g.agent, reason)})
		}
		counts[st]++
		if severity[st] > severity[status] {
			status = st
		}
		if st != journal.Held || len(gots) == 1 {
			reasons = append(reasons, fmt.Sprintf("%s: %s: %s", g.agent, st, reason))
		}
	}
	if m.Impact.Samples > 0 {
		m.Impact.FailedShare = float64(m.Impact.FailedSamples) / float64(m.Impact.Samples)
	}
	out.Status = status
	out.Host = fmt.Sprintf("%d agents: %s", len(names), strings.Join(names, ", "))
	out.Reason = strings.Join(append([]string{summary(counts, len(gots))}, reasons...), "; ")
	slices.SortStableFunc(out.Events, func(a, b journal.Event) int { return cmp.Compare(a.At, b.At) })
	out.Events = append(out.Events, journal.Event{At: out.Ended.Sub(out.Started).Seconds(), Time: out.Ended, Type: journal.Verdict,
		Message: string(status) + ": " + out.Reason})
	return out
}

func missingReason(a store.Assignment) string {
	switch a.State {
	case store.AssignmentCancelled:
		return "halted before the agent started it"
	case store.AssignmentLost:
		return "the agent was lost (no poll within its lease, or it restarted) before it reported a journal; its dead man's switch recovers its faults"
	}
	return "no journal"
}

// summary counts the agents by verdict: "3 agents: 2 held, 1 deviated".
func summary(counts map[journal.Status]int, n int) string {
	var parts []string
	for _, st := range []journal.Status{journal.Held, journal.Deviated, journal.Invalid, journal.Aborted} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	noun := "agents"
	if n == 1 {
		noun = "agent"
	}
	return fmt.Sprintf("%d %s: %s", n, noun, strings.Join(parts, ", "))
}

// addJournal adds one agent's events, series and targets, shifted by
// shift seconds and named by the agent.
func addJournal(out *journal.Journal, agent string, j *journal.Journal, shift float64) {
	tag := "[" + agent + "] "
	for _, e := range j.Events {
		e.At += shift
		e.Message = tag + e.Message
		e.Target = prefixed(agent, e.Target)
		if e.Ends != nil {
			ends := *e.Ends + shift
			e.Ends = &ends
		}
		out.Events = append(out.Events, e)
	}
	for _, s := range j.Checks {
		c := *s
		c.Check = agent + "/" + s.Check
		c.Samples = make([]journal.Sample, len(s.Samples))
		for i, smp := range s.Samples {
			smp.At += shift
			c.Samples[i] = smp
		}
		out.Checks = append(out.Checks, &c)
	}
	for _, h := range j.Targets {
		h.Target = prefixed(agent, h.Target)
		h.InjectedAt += shift
		if h.RecoveredAt != nil {
			r := *h.RecoveredAt + shift
			h.RecoveredAt = &r
		}
		out.Targets = append(out.Targets, h)
	}
}

func prefixed(agent, target string) string {
	if target == "" {
		return ""
	}
	return agent + ": " + target
}

// mergeMetrics adds one agent's metrics: the earliest detection, the
// slowest recovery, the sums of samples and faults, the worst latency.
func mergeMetrics(m *journal.Metrics, a journal.Metrics) {
	if a.TimeToDetect != nil && (m.TimeToDetect == nil || *a.TimeToDetect < *m.TimeToDetect) {
		v := *a.TimeToDetect
		m.TimeToDetect = &v
	}
	if a.TimeToRecover != nil && (m.TimeToRecover == nil || *a.TimeToRecover > *m.TimeToRecover) {
		v := *a.TimeToRecover
		m.TimeToRecover = &v
	}
	m.Impact.Samples += a.Impact.Samples
	m.Impact.FailedSamples += a.Impact.FailedSamples
	m.Impact.FaultsInjected += a.Impact.FaultsInjected
	m.Impact.FaultsRecovered += a.Impact.FaultsRecovered
	if a.Impact.WorstLatency != nil && (m.Impact.WorstLatency == nil || *a.Impact.WorstLatency > *m.Impact.WorstLatency) {
		v := *a.Impact.WorstLatency
		m.Impact.WorstLatency = &v
	}
}
