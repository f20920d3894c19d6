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

type metric struct{ Name, Value string }

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
	v := &view{
		Run:       j.Run,
		Verdict:   newVerdict(j, s.Name),
		Spec:      s,
		Timelines: timelines(j),
		Metrics:   metrics(j.Metrics),
		Targets:   hits(j),
		Events:    events(j.Events),
	}
	v.Postmortem = newPostmortem(j, v.Verdict.Name)
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

func metrics(m journal.Metrics) []metric {
	im := m.Impact
	failed := fmt.Sprintf("%d / %d", im.FailedSamples, im.Samples)
	if im.Samples > 0 {
		failed += " (" + share(im.FailedShare) + ")"
	}
	return []metric{
		{"Time to detect", seconds(m.TimeToDetect)},
		{"Time to recover", seconds(m.TimeToRecover)},
		{"Failed samples", failed},
		{"Worst latency", latency(im.WorstLatency)},
		{"Faults injected / recovered", fmt.Sprintf("%d / %d", im.FaultsInjected, im.FaultsRecovered)},
	}
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

func newPostmortem(j *journal.Journal, name string) postmortem {
	return postmortem{Summary: summary(j, name), Impact: impact(j), Detection: detection(j)}
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

func impact(j *journal.Journal) []string {
	im := j.Metrics.Impact
	lines := []string{fmt.Sprintf("%d of %d samples failed", im.FailedSamples, im.Samples)}
	if im.Samples > 0 {
		lines[0] += " (" + share(im.FailedShare) + ")"
	}
	lines[0] += "."
	if im.WorstLatency != nil {
		lines = append(lines, "Worst latency: "+latency(im.WorstLatency)+".")
	}
	lines = append(lines, fmt.Sprintf("Faults injected: %d; recovered: %d.", im.FaultsInjected, im.FaultsRecovered))
	if m := j.Metrics.TimeToRecover; m != nil {
		lines = append(lines, "Checks held again "+seconds(m)+" after the last recovery.")
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
