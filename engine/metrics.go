package engine

import (
	"time"

	"github.com/faultline-dev/faultline/journal"
)

// metrics quantifies a run from its journal: time to detect (first
// injection to first failed hypothesis sample), time to recover (last
// recovery to the first sample after which the checks held) and impact.
func metrics(j *journal.Journal, rec *recorder, firstInjection, lastRecovery time.Time, recoveredOK bool) journal.Metrics {
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
			if v, ok := smp.Values["latency"].(float64); ok && (m.Impact.WorstLatency == nil || v > *m.Impact.WorstLatency) {
				m.Impact.WorstLatency = &v
			}
		}
	}
	if m.Impact.Samples > 0 {
		m.Impact.FailedShare = float64(m.Impact.FailedSamples) / float64(m.Impact.Samples)
	}
	if recoveredOK && rcv >= 0 {
		// The checks held from the first post-check round in which every
		// check passed: the latest sample of the last round.
		last := -1.0
		for _, s := range j.Checks {
			if s.Kind != "hypothesis" || len(s.Samples) == 0 {
				continue
			}
			if smp := s.Samples[len(s.Samples)-1]; smp.Phase == "after" && smp.At > last {
				last = smp.At + smp.Took
			}
		}
		if last >= rcv {
			d := last - rcv
			m.TimeToRecover = &d
		}
	}
	return m
}
