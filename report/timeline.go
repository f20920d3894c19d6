package report

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/journal"
)

// threshold is a tolerance that is a single comparison, in a series' own
// unit: "< 300ms" or "< 0.3" on a latency in seconds is {"<", 0.3}.
type threshold struct {
	Op    string
	Value float64
}

var comparisonRE = regexp.MustCompile(`^\s*(<=|>=|<|>)\s*(\S+)\s*$`)

// parseThreshold reads a tolerance that is one comparison. Anything else
// (a value, a list, a range, "2xx", a pattern) is not a threshold.
func parseThreshold(tol, unit string) (threshold, bool) {
	m := comparisonRE.FindStringSubmatch(tol)
	if m == nil {
		return threshold{}, false
	}
	v, ok := parseAmount(m[2], unit)
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return threshold{}, false
	}
	return threshold{Op: m[1], Value: v}, true
}

// parseAmount reads a number in unit, or a duration with its own unit when
// unit is seconds, or a percentage as a ratio (as package expect does).
func parseAmount(s, unit string) (float64, bool) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, true
	}
	if unit == "s" {
		d, err := time.ParseDuration(s)
		return d.Seconds(), err == nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		return f / 100, err == nil
	}
	return 0, false
}

// lowIsBad reports whether smaller values are the worse ones, as for
// "> 0.99".
func (t threshold) lowIsBad() bool { return strings.HasPrefix(t.Op, ">") }

// runEnd is the length of the run in seconds: the wall-clock span, or the
// latest offset the journal records when that is later or unknown.
func runEnd(j *journal.Journal) float64 {
	end := 0.0
	if !j.Started.IsZero() && j.Ended.After(j.Started) {
		end = j.Ended.Sub(j.Started).Seconds()
	}
	for _, e := range j.Events {
		end = max(end, e.At)
	}
	for _, s := range j.Checks {
		for _, x := range s.Samples {
			end = max(end, x.At)
		}
	}
	for _, h := range j.Targets {
		end = max(end, h.InjectedAt)
		if h.RecoveredAt != nil {
			end = max(end, *h.RecoveredAt)
		}
	}
	return end
}

// notInjected reports whether a hit's injection failed, which the journal
// tells only through an inject-failed event with the same fault ID.
func notInjected(j *journal.Journal, h journal.Hit) bool {
	for _, e := range j.Events {
		if e.Type == journal.InjectFailed && e.FaultID != "" && e.FaultID == h.FaultID &&
			(e.Target == "" || e.Target == h.Target) {
			return true
		}
	}
	return false
}

// window is the span during which one step's fault was in place, from
// its first injection to its last recovery, or to end of the run when a
// target was never recovered.
type window struct {
	Step, Fault string
	From, To    float64
	Recovered   bool
}

// faultWindows groups the injected hits by step and fault, in the order
// the journal lists them.
func faultWindows(j *journal.Journal, end float64) []window {
	var ws []window
	index := map[[2]string]int{}
	for _, h := range j.Targets {
		if notInjected(j, h) {
			continue
		}
		to, recovered := end, h.RecoveredAt != nil
		if recovered {
			to = *h.RecoveredAt
		}
		key := [2]string{h.Step, h.Fault}
		i, seen := index[key]
		if !seen {
			index[key] = len(ws)
			ws = append(ws, window{Step: h.Step, Fault: h.Fault, From: h.InjectedAt, To: to, Recovered: recovered})
			continue
		}
		w := &ws[i]
		w.From, w.To, w.Recovered = min(w.From, h.InjectedAt), max(w.To, to), w.Recovered && recovered
	}
	return ws
}

// phaseRow sums up one phase of one check for the text timeline.
type phaseRow struct {
	Phase    string
	From, To string
	Samples  int
	Failed   int
	Worst    string
}

// timeline is one check's text timeline.
type timeline struct {
	Check, Probe, Kind string
	Measure, Unit      string
	Tolerance          string
	Phases             []phaseRow
}

func timelines(j *journal.Journal) []timeline {
	ts := make([]timeline, 0, len(j.Checks))
	for _, s := range j.Checks {
		if s == nil {
			continue
		}
		ts = append(ts, timeline{
			Check: s.Check, Probe: s.Probe, Kind: s.Kind,
			Measure: s.Measure, Unit: displayUnit(s.Unit), Tolerance: s.Tolerance,
			Phases: phases(s),
		})
	}
	return ts
}

// phases sums up a series by phase, phases in order of first sample.
func phases(s *journal.Series) []phaseRow {
	th, hasTh := parseThreshold(s.Tolerance, s.Unit)
	lowIsBad := hasTh && th.lowIsBad()
	var rows []phaseRow
	var worst []*float64
	index := map[string]int{}
	for _, x := range s.Samples {
		i, seen := index[x.Phase]
		if !seen {
			i = len(rows)
			index[x.Phase] = i
			rows = append(rows, phaseRow{Phase: x.Phase, From: at(x.At)})
			worst = append(worst, nil)
		}
		r := &rows[i]
		r.To = at(x.At)
		r.Samples++
		if !x.OK {
			r.Failed++
		}
		if x.Value != nil && (worst[i] == nil || worse(*x.Value, *worst[i], lowIsBad)) {
			worst[i] = x.Value
		}
	}
	for i := range rows {
		rows[i].Worst = none
		if worst[i] != nil {
			rows[i].Worst = value(*worst[i], s.Unit)
		}
	}
	return rows
}

func worse(a, b float64, lowIsBad bool) bool {
	if lowIsBad {
		return a < b
	}
	return a > b
}

// firstCaught finds the hypothesis check whose failed sample came first at
// or after the first injection.
func firstCaught(j *journal.Journal) (check string, sample journal.Sample, ok bool) {
	start, injected := firstInjection(j)
	if !injected {
		return "", journal.Sample{}, false
	}
	for _, s := range j.Checks {
		if s == nil || s.Kind == "stop" {
			continue
		}
		if x, failed := firstFailure(s, start); failed && (!ok || x.At < sample.At) {
			check, sample, ok = s.Check, x, true
		}
	}
	return check, sample, ok
}

// firstFailure is the earliest failed sample of s at or after from.
func firstFailure(s *journal.Series, from float64) (journal.Sample, bool) {
	var first journal.Sample
	found := false
	for _, x := range s.Samples {
		if !x.OK && x.At >= from && (!found || x.At < first.At) {
			first, found = x, true
		}
	}
	return first, found
}

func firstInjection(j *journal.Journal) (float64, bool) {
	first, found := 0.0, false
	for _, h := range j.Targets {
		if notInjected(j, h) {
			continue
		}
		if !found || h.InjectedAt < first {
			first, found = h.InjectedAt, true
		}
	}
	return first, found
}
