package report

import (
	"encoding/json"
	"math"
	"slices"
	"sort"

	"github.com/faultline-dev/faultline/journal"
)

// measures are the numbers a run is judged by, read from its journal: the
// engine's metrics, and what the report works out from the samples.
type measures struct {
	Status journal.Status
	// TimeToDetect and TimeToRecover are the engine's, in seconds.
	TimeToDetect, TimeToRecover *float64
	Stable                      stability
	Samples, Failed             int
	Requests                    requestCount
	WorstLatency                *float64
	Injected, Recovered         int
}

func newMeasures(j *journal.Journal) measures {
	im := j.Metrics.Impact
	return measures{
		Status:        j.Status,
		TimeToDetect:  j.Metrics.TimeToDetect,
		TimeToRecover: j.Metrics.TimeToRecover,
		Stable:        timeToStable(j),
		Samples:       im.Samples,
		Failed:        im.FailedSamples,
		Requests:      failedRequests(j),
		WorstLatency:  im.WorstLatency,
		Injected:      im.FaultsInjected,
		Recovered:     im.FaultsRecovered,
	}
}

// failedShare is the share of failed hypothesis samples; false when there
// were none.
func (m measures) failedShare() (float64, bool) {
	if m.Samples == 0 {
		return 0, false
	}
	return float64(m.Failed) / float64(m.Samples), true
}

// defaultStableSamples is how many passing samples in a row every
// hypothesis check needs after the last recovery for the steady state to
// count as stable, when the experiment does not say
// (spec.hypothesis.stableSamples).
const defaultStableSamples = 3

func stableSamplesOf(j *journal.Journal) int {
	var d document
	if json.Unmarshal(j.Experiment, &d) == nil && d.Spec.Hypothesis != nil && d.Spec.Hypothesis.StableSamples > 0 {
		return d.Spec.Hypothesis.StableSamples
	}
	return defaultStableSamples
}

// stability is the time from the last recovery until every hypothesis check
// had passed stableSamples samples in a row, all taken after that recovery.
type stability struct {
	// After is that time in seconds; nil when it was not reached, or
	// there was nothing to reach (Why says which).
	After *float64
	Why   string
	// Samples is the streak that counts as stable.
	Samples int
}

// notReached is why a run that recovered every fault was not stable.
const notReached = "not reached before the run ended"

// timeToStable works out the stability of a run from its samples. A sample
// counts from when its result was known (its start plus the time it took),
// as the engine's time to recover does; only samples that started after
// the last recovery count, since the others measured the fault.
func timeToStable(j *journal.Journal) (st stability) {
	stable := stableSamplesOf(j)
	defer func() { st.Samples = stable }()
	last, injected, recovered := lastRecovery(j)
	switch {
	case !injected:
		return stability{Why: "no fault was injected"}
	case !recovered:
		return stability{Why: "a fault was not recovered"}
	}
	type result struct {
		end   float64
		check int
		ok    bool
	}
	var rs []result
	checks := 0
	for _, s := range j.Checks {
		if !isHypothesis(s) {
			continue
		}
		for _, x := range s.Samples {
			if x.At >= last {
				rs = append(rs, result{end: x.At + x.Took, check: checks, ok: x.OK})
			}
		}
		checks++
	}
	if checks == 0 {
		return stability{Why: "no hypothesis check"}
	}
	sort.SliceStable(rs, func(a, b int) bool { return rs[a].end < rs[b].end })
	streak := make([]int, checks)
	for _, r := range rs {
		if !r.ok {
			streak[r.check] = 0
			continue
		}
		streak[r.check]++
		if slices.Min(streak) >= stable {
			d := max(r.end-last, 0)
			return stability{After: &d}
		}
	}
	return stability{Why: notReached}
}

// lastRecovery is when the last injected fault was recovered; recovered is
// false when an injected fault never was.
func lastRecovery(j *journal.Journal) (last float64, injected, recovered bool) {
	recovered = true
	for _, h := range j.Targets {
		if notInjected(j, h) {
			continue
		}
		injected = true
		if h.RecoveredAt == nil {
			recovered = false
			continue
		}
		last = max(last, *h.RecoveredAt)
	}
	return last, injected, recovered
}

func isHypothesis(s *journal.Series) bool { return s != nil && s.Kind != "stop" }

// loadProbe is the probe kind whose samples count requests.
const loadProbe = "load"

// requestCount sums what the load checks of a run counted. A load sample
// carries the counts of the window it judged in its values: requests,
// successRatio (answers with an expected status, of all requests) and
// errors (requests that got no answer, a number or counts by kind). A
// request failed when it got no answer or a wrong status, so the failures
// are worked out from the success ratio, and from errors only without it.
//
// Windows may overlap (a 5s window judged every second), so the sums count
// a request once per window it was in: the share is that of the run, the
// sums are not the number of requests sent.
type requestCount struct {
	// Checks is how many hypothesis checks are load probes.
	Checks           int
	Requests, Failed float64
	// Uncounted is how many load samples had no usable counts (the
	// probe failed to measure, or wrote numbers that do not add up).
	Uncounted int
}

// share is the share of failed requests; false when nothing was counted.
func (c requestCount) share() (float64, bool) {
	if c.Requests <= 0 {
		return 0, false
	}
	return c.Failed / c.Requests, true
}

// failedRequests adds up the requests and failures of every load check.
func failedRequests(j *journal.Journal) requestCount {
	var c requestCount
	for _, s := range j.Checks {
		if !isHypothesis(s) || s.Probe != loadProbe {
			continue
		}
		c.Checks++
		for _, x := range s.Samples {
			requests, failed, ok := counts(x.Values)
			if !ok {
				c.Uncounted++
				continue
			}
			c.Requests += requests
			c.Failed += failed
		}
	}
	return c
}

// counts reads a load sample's requests and failed requests.
func counts(values map[string]any) (requests, failed float64, ok bool) {
	if requests, ok = count(values["requests"]); !ok {
		return 0, 0, false
	}
	if ratio, isNumber := values["successRatio"].(float64); isNumber {
		return requests, math.Round(requests * (1 - ratio)), ratio >= 0 && ratio <= 1
	}
	byKind, isMap := values["errors"].(map[string]any)
	if !isMap {
		failed, ok = count(values["errors"])
		return requests, failed, ok && failed <= requests
	}
	for _, v := range byKind {
		n, ok := count(v)
		if !ok {
			return 0, 0, false
		}
		failed += n
	}
	return requests, failed, failed <= requests
}

// count reads a non-negative finite number decoded from JSON.
func count(v any) (float64, bool) {
	n, ok := v.(float64)
	return n, ok && n >= 0 && !math.IsInf(n, 0)
}

// checkImpact is the worst one check saw.
type checkImpact struct {
	Check, Kind     string
	Samples, Failed int
	// Worst is the worst value measured (the highest, or the lowest when
	// the tolerance wants values above a bound) and WorstAt when.
	Worst   string
	WorstAt string
	// Outage is the longest stretch of failed samples in a row: from the
	// first of them to the next passing sample, or to the end of the last
	// failed one when none passed after it.
	Outage, OutageFrom string
}

func impacts(j *journal.Journal) []checkImpact {
	var out []checkImpact
	for _, s := range j.Checks {
		if s == nil {
			continue
		}
		out = append(out, newCheckImpact(s))
	}
	return out
}

func newCheckImpact(s *journal.Series) checkImpact {
	ci := checkImpact{Check: s.Check, Kind: s.Kind, Samples: len(s.Samples), Worst: none, Outage: none}
	th, hasTh := parseThreshold(s.Tolerance, s.Unit)
	lowIsBad := hasTh && th.lowIsBad()
	var worst *journal.Sample
	for i, x := range s.Samples {
		if !x.OK {
			ci.Failed++
		}
		if x.Value != nil && (worst == nil || worse(*x.Value, *worst.Value, lowIsBad)) {
			worst = &s.Samples[i]
		}
	}
	if worst != nil {
		ci.Worst, ci.WorstAt = value(*worst.Value, s.Unit), at(worst.At)
	}
	if d, from, ok := longestOutage(s.Samples); ok {
		ci.Outage, ci.OutageFrom = seconds(&d), at(from)
	}
	return ci
}

// longestOutage finds the longest run of failed samples in a row.
func longestOutage(samples []journal.Sample) (d, from float64, ok bool) {
	for i := 0; i < len(samples); {
		if samples[i].OK {
			i++
			continue
		}
		first := samples[i]
		for i < len(samples) && !samples[i].OK {
			i++
		}
		end := samples[i-1].At + samples[i-1].Took
		if i < len(samples) {
			end = samples[i].At
		}
		if span := end - first.At; !ok || span > d {
			d, from, ok = span, first.At, true
		}
	}
	return d, from, ok
}
