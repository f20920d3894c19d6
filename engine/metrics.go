package engine

import (
	"time"

	"github.com/faultline-dev/faultline/journal"
)

// metrics quantifies a run from its journal: time to detect (first
// injection to first failed hypothesis sample), time to recover (last
// recovery to the first sample after which the checks held) and impact.
func metrics(j *journal.Journal, rec *recorder, firstInjection, lastRecovery, heldAgain time.Time) journal.Metrics {
	var m journal.Metrics
	for _, h := range j.Targets {
		m.Impact.FaultsInjected++
		if h.RecoveredAt != nil {
			m.Impact.FaultsRecovered++
		}
	}
	inj, rcv := -1.0, -1.0
	if !firstInjection.IsZero() {
		inj = rec.since(firstInjection)
	}
	if !lastRecovery.IsZero() {
		rcv = rec.since(lastRecovery)
	}
	for _, s := range j.Checks {
		if s.Kind != "hypothesis" {
			continue
		}
		for _, smp := range s.Samples {
			m.Impact.Samples++
			if !smp.OK {
				m.Impact.FailedSamples++
				if inj >= 0 && smp.At >= inj && smp.Phase == "during" {
					if d := smp.At - inj; m.TimeToDetect == nil || d < *m.TimeToDetect {
						m.TimeToDetect = &d
					}
				}
			}
			// The worst latency is the largest plotted duration: an http
			// check's latency, a load check's p99.
			if v := smp.Value; s.Unit == "s" && v != nil && (m.Impact.WorstLatency == nil || *v > *m.Impact.WorstLatency) {
				m.Impact.WorstLatency = v
			}
		}
	}
	if m.Impact.Samples > 0 {
		m.Impact.FailedShare = float64(m.Impact.FailedSamples) / float64(m.Impact.Samples)
	}
	if !heldAgain.IsZero() && rcv >= 0 {
		d := max(rec.since(heldAgain)-rcv, 0)
		m.TimeToRecover = &d
	}
	return m
}
