package report

import (
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline/journal"
)

// view is everything a report shows, in the order it shows it, with every
// number already written.
type view struct {
	Run        string
	Verdict    verdict
	Spec       spec
	Timelines  []timeline
	Charts     []chart
	Metrics    []metric
	Impacts    []checkImpact
	Targets    []hitRow
	Events     []eventRow
	Postmortem postmortem
}

// verdict is the one line that says how the run went.
type verdict struct {
	Status   string // HELD, DEVIATED, …
	Class    string // held, deviated, aborted, invalid or unknown
	Mark     string // the status's colour, as Markdown can show it
	Name     string
	Reason   string
	Started  string
	Duration string
	Host     string
	DryRun   bool
}

// metric is one row of the metrics table: its name, its value, and how it
// is measured.
type metric struct{ Name, Value, Meaning string }

type hitRow struct {
	Step, Fault, Target string
	InjectedAt          string
	RecoveredAt         string
	NotRecovered        bool
	Error               string
}

type eventRow struct {
	At, Type, Subject, Message string
}

// postmortem holds what the report can pre-fill of the postmortem.
type postmortem struct {
	Summary   string
	Impact    []string
	Detection string
}

func newView(j *journal.Journal) *view {
	s := readSpec(j.Experiment)
	m := newMeasures(j)
	v := &view{
		Run:       j.Run,
		Verdict:   newVerdict(j, s.Name),
		Spec:      s,
		Timelines: timelines(j),
		Metrics:   metrics(m),
		Impacts:   impacts(j),
		Targets:   hits(j),
		Events:    events(j.Events),
	}
	v.Postmortem = newPostmortem(j, m, v.Verdict.Name)
	return v
}

var statusStyle = map[journal.Status]struct{ class, mark string }{
	journal.Held:     {"held", "🟢"},
	journal.Deviated: {"deviated", "🔴"},
	journal.Aborted:  {"aborted", "🟠"},
	journal.Invalid:  {"invalid", "⚪"},
}

func newVerdict(j *journal.Journal, specName string) verdict {
	v := verdict{
		Status:   strings.ToUpper(string(j.Status)),
		Class:    "unknown",
		Mark:     "⚪",
		Name:     j.Name,
		Reason:   j.Reason,
		Started:  timestamp(j.Started),
		Duration: none,
		Host:     j.Host,
		DryRun:   j.DryRun,
	}
	if st, ok := statusStyle[j.Status]; ok {
		v.Class, v.Mark = st.class, st.mark
	}
	if v.Status == "" {
		v.Status = "UNKNOWN"
	}
	if v.Name == "" {
		v.Name = specName
	}
	if !j.Started.IsZero() && !j.Ended.Before(j.Started) {
		d := j.Ended.Sub(j.Started).Seconds()
		v.Duration = seconds(&d)
	}
	return v
}

// metrics are the rows of the metrics table, each with how it is
// measured.
func metrics(m measures) []metric {
	return []metric{
		{"Time to detect", seconds(m.TimeToDetect), "first injection to the first failed hypothesis sample"},
		{"Time to recover", seconds(m.TimeToRecover), "last recovery to the first round in which every check held"},
		{"Time until stable", m.Stable.String(), fmt.Sprintf("last recovery until every check passed %d samples in a row", m.Stable.Samples)},
		{"Failed samples", m.failedSamples(), "failed hypothesis samples of all samples"},
		{"Failed requests", m.Requests.String(), "requests with no answer or a wrong status, of all the load checks counted"},
		{"Worst latency", latency(m.WorstLatency), "the largest latency any check measured"},
		{"Faults injected / recovered", m.faults(), "faults applied to a target, and how many were rolled back"},
	}
}

// String writes a stability as a time, or none with the reason.
func (s stability) String() string {
	if s.After != nil {
		return seconds(s.After)
	}
	return none + " (" + s.Why + ")"
}

// failedSamples writes "8 / 60 (13.333%)".
func (m measures) failedSamples() string {
	s := fmt.Sprintf("%d / %d", m.Failed, m.Samples)
	if sh, ok := m.failedShare(); ok {
		s += " (" + share(sh) + ")"
	}
	return s
}

func (m measures) faults() string { return fmt.Sprintf("%d / %d", m.Injected, m.Recovered) }

// String writes "1.2% (12 of 1000 in the judged windows)", with how many
// load samples had no counts, or none with the reason.
func (c requestCount) String() string {
	sh, ok := c.share()
	switch {
	case c.Checks == 0:
		return none + " (no load check)"
	case !ok:
		return none + " (the load checks counted no requests)"
	}
	s := share(sh) + " (" + num(c.Failed) + " of " + num(c.Requests) + " in the judged windows"
	if c.Uncounted > 0 {
		s += fmt.Sprintf("; %d %s had no counts", c.Uncounted, plural(c.Uncounted, "sample", "samples"))
	}
	return s + ")"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func hits(j *journal.Journal) []hitRow {
	rows := make([]hitRow, len(j.Targets))
	for i, h := range j.Targets {
		r := hitRow{Step: h.Step, Fault: h.Fault, Target: h.Target, InjectedAt: at(h.InjectedAt), Error: h.Error}
		switch {
		case notInjected(j, h):
			r.InjectedAt, r.RecoveredAt = "not injected", none
		case h.RecoveredAt == nil:
			r.NotRecovered, r.RecoveredAt = true, "NOT RECOVERED"
		default:
			r.RecoveredAt = at(*h.RecoveredAt)
		}
		rows[i] = r
	}
	return rows
}

func events(es []journal.Event) []eventRow {
	rows := make([]eventRow, len(es))
	for i, e := range es {
		rows[i] = eventRow{At: at(e.At), Type: string(e.Type), Subject: subject(e), Message: e.Message}
	}
	return rows
}

// subject names what an event is about: "step · fault · target · check",
// or the phase a phase event starts.
func subject(e journal.Event) string {
	if e.Type == journal.PhaseStarted {
		return e.Phase
	}
	var parts []string
	for _, p := range []string{e.Step, e.Fault, e.Target, e.Check} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " · ")
}

func newPostmortem(j *journal.Journal, m measures, name string) postmortem {
	return postmortem{Summary: summary(j, name), Impact: impact(j, m), Detection: detection(j)}
}

func summary(j *journal.Journal, name string) string {
	s := fmt.Sprintf("The experiment %s %s", quote(name), statusVerb(j.Status))
	if j.Reason != "" {
		s += ": " + j.Reason
	}
	return s + "."
}

func quote(s string) string { return "“" + s + "”" }

func statusVerb(s journal.Status) string {
	switch s {
	case journal.Held:
		return "held"
	case journal.Deviated:
		return "deviated from its steady state"
	case journal.Aborted:
		return "was aborted"
	case journal.Invalid:
		return "was invalid and injected nothing"
	}
	return "ended with status " + string(s)
}

func impact(j *journal.Journal, m measures) []string {
	lines := []string{fmt.Sprintf("%d of %d samples failed", m.Failed, m.Samples)}
	if sh, ok := m.failedShare(); ok {
		lines[0] += " (" + share(sh) + ")"
	}
	lines[0] += "."
	if sh, ok := m.Requests.share(); ok {
		lines = append(lines, fmt.Sprintf("%s of the requests failed (%s of %s counted in the load checks' windows).", share(sh), num(m.Requests.Failed), num(m.Requests.Requests)))
	}
	if m.WorstLatency != nil {
		lines = append(lines, "Worst latency: "+latency(m.WorstLatency)+".")
	}
	lines = append(lines, fmt.Sprintf("Faults injected: %d; recovered: %d.", m.Injected, m.Recovered))
	if m.TimeToRecover != nil {
		lines = append(lines, "Checks held again "+seconds(m.TimeToRecover)+" after the last recovery.")
	}
	if st := m.Stable; st.After != nil {
		lines = append(lines, fmt.Sprintf("Every check passed %d samples in a row %s after the last recovery.", st.Samples, seconds(st.After)))
	} else if st.Why == notReached {
		lines = append(lines, fmt.Sprintf("The checks were not stable (%d passing samples in a row each): %s.", st.Samples, st.Why))
	}
	for _, h := range j.Targets {
		if h.RecoveredAt == nil && !notInjected(j, h) {
			lines = append(lines, fmt.Sprintf("NOT RECOVERED: %s on %s (step %s).", h.Fault, h.Target, h.Step))
		}
	}
	return lines
}

func detection(j *journal.Journal) string {
	if _, injected := firstInjection(j); !injected {
		return "No fault was injected, so there was nothing to detect."
	}
	ttd := j.Metrics.TimeToDetect
	check, sample, caught := firstCaught(j)
	switch {
	case ttd == nil && !caught:
		return "No hypothesis check failed after the first injection: the checks did not see any harm."
	case !caught:
		return "Detected " + seconds(ttd) + " after the first injection."
	case ttd == nil:
		return "First caught by " + caughtBy(check, sample) + "."
	}
	return "Detected " + seconds(ttd) + " after the first injection, first by " + caughtBy(check, sample) + "."
}

// caughtBy writes “check” (failed sample at 6.000 s, phase during).
func caughtBy(check string, x journal.Sample) string {
	s := quote(check) + " (failed sample at " + at(x.At) + " s"
	if x.Phase != "" {
		s += ", phase " + x.Phase
	}
	return s + ")"
}
