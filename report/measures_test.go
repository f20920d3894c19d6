package report

import (
	"testing"

	"github.com/faultline-dev/faultline/journal"
)

func f(v float64) *float64 { return &v }

// series makes a check's samples from "at:ok" pairs, each taking 0.1 s.
func series(name, kind string, samples ...any) *journal.Series {
	s := &journal.Series{Check: name, Kind: kind}
	for i := 0; i+1 < len(samples); i += 2 {
		s.Samples = append(s.Samples, journal.Sample{At: samples[i].(float64), OK: samples[i+1].(bool), Took: 0.1})
	}
	return s
}

func recoveredAt(v float64) []journal.Hit {
	return []journal.Hit{{FaultID: "f-1", InjectedAt: 1, RecoveredAt: &v}}
}

func TestTimeToStable(t *testing.T) {
	tests := []struct {
		name    string
		targets []journal.Hit
		events  []journal.Event
		checks  []*journal.Series
		want    *float64
		why     string
	}{
		{
			name:   "nothing injected",
			checks: []*journal.Series{series("a", "hypothesis", 1.0, true, 2.0, true, 3.0, true)},
			why:    "no fault was injected",
		},
		{
			name:    "injection failed",
			targets: []journal.Hit{{FaultID: "f-1", InjectedAt: 1}},
			events:  []journal.Event{{Type: journal.InjectFailed, FaultID: "f-1"}},
			why:     "no fault was injected",
		},
		{
			name:    "a fault not recovered",
			targets: []journal.Hit{{FaultID: "f-1", InjectedAt: 1}},
			checks:  []*journal.Series{series("a", "hypothesis", 1.0, true, 2.0, true, 3.0, true)},
			why:     "a fault was not recovered",
		},
		{
			name:    "no hypothesis",
			targets: recoveredAt(5),
			checks:  []*journal.Series{series("guard", "stop", 6.0, true, 7.0, true, 8.0, true)},
			why:     "no hypothesis check",
		},
		{
			name:    "three passing samples right away",
			targets: recoveredAt(5),
			checks:  []*journal.Series{series("a", "hypothesis", 4.0, false, 6.0, true, 7.0, true, 8.0, true)},
			want:    f(3.1),
		},
		{
			name:    "a failure restarts the count",
			targets: recoveredAt(5),
			checks:  []*journal.Series{series("a", "hypothesis", 6.0, true, 7.0, true, 8.0, false, 9.0, true, 10.0, true, 11.0, true)},
			want:    f(6.1),
		},
		{
			name:    "every check must be stable, the slowest decides",
			targets: recoveredAt(5),
			checks: []*journal.Series{
				series("a", "hypothesis", 6.0, true, 7.0, true, 8.0, true, 9.0, true),
				series("b", "hypothesis", 6.0, false, 7.5, true, 8.5, true, 9.5, true),
			},
			want: f(4.6),
		},
		{
			name:    "stop conditions do not count",
			targets: recoveredAt(5),
			checks: []*journal.Series{
				series("a", "hypothesis", 6.0, true, 7.0, true, 8.0, true),
				series("guard", "stop", 6.0, false, 7.0, false, 8.0, false),
			},
			want: f(3.1),
		},
		{
			name:    "the run ended first",
			targets: recoveredAt(5),
			checks:  []*journal.Series{series("a", "hypothesis", 6.0, true, 7.0, true)},
			why:     notReached,
		},
		{
			name:    "a check sampled nothing after the recovery",
			targets: recoveredAt(5),
			checks: []*journal.Series{
				series("a", "hypothesis", 6.0, true, 7.0, true, 8.0, true),
				series("b", "hypothesis", 1.0, true),
			},
			why: notReached,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &journal.Journal{Targets: tt.targets, Events: tt.events, Checks: tt.checks}
			got := timeToStable(j)
			if seconds(got.After) != seconds(tt.want) || got.Why != tt.why {
				t.Errorf("timeToStable = %s (%q), want %s (%q)", seconds(got.After), got.Why, seconds(tt.want), tt.why)
			}
		})
	}
}

func TestFailedRequests(t *testing.T) {
	load := func(kind string, values ...map[string]any) *journal.Series {
		s := &journal.Series{Check: "load", Probe: "load", Kind: kind}
		for _, v := range values {
			s.Samples = append(s.Samples, journal.Sample{Values: v})
		}
		return s
	}
	tests := []struct {
		name   string
		checks []*journal.Series
		want   requestCount
		text   string
	}{
		{
			name:   "no load check",
			checks: []*journal.Series{series("a", "hypothesis", 1.0, true)},
			text:   "— (no load check)",
		},
		{
			name: "failures add up across samples and checks",
			checks: []*journal.Series{
				load("hypothesis", map[string]any{"requests": 50.0, "errors": 5.0, "successRatio": 0.9}, map[string]any{"requests": 50.0, "successRatio": 1.0}),
				load("hypothesis", map[string]any{"requests": 100.0, "successRatio": 0.85}),
			},
			want: requestCount{Checks: 2, Requests: 200, Failed: 20},
			text: "10% (20 of 200 in the judged windows)",
		},
		{
			name:   "a wrong status fails a request too: the success ratio counts it, errors do not",
			checks: []*journal.Series{load("hypothesis", map[string]any{"requests": 40.0, "errors": 1.0, "successRatio": 0.75})},
			want:   requestCount{Checks: 1, Requests: 40, Failed: 10},
			text:   "25% (10 of 40 in the judged windows)",
		},
		{
			name: "errors without a success ratio, as a number or by kind",
			checks: []*journal.Series{load("hypothesis",
				map[string]any{"requests": 40.0, "errors": 4.0},
				map[string]any{"requests": 60.0, "errors": map[string]any{"timeout": 2.0, "refused": 4.0}},
			)},
			want: requestCount{Checks: 1, Requests: 100, Failed: 10},
			text: "10% (10 of 100 in the judged windows)",
		},
		{
			name: "samples without usable counts are left out and said",
			checks: []*journal.Series{load("hypothesis",
				nil,
				map[string]any{"successRatio": 0.5},
				map[string]any{"requests": "many", "errors": 1.0},
				map[string]any{"requests": 10.0, "errors": 11.0},
				map[string]any{"requests": 10.0, "successRatio": 1.5},
				map[string]any{"requests": -1.0, "errors": 0.0},
				map[string]any{"requests": 10.0},
				map[string]any{"requests": 10.0, "errors": map[string]any{"timeout": "x"}},
				map[string]any{"requests": 10.0, "successRatio": 0.9},
			)},
			want: requestCount{Checks: 1, Requests: 10, Failed: 1, Uncounted: 8},
			text: "10% (1 of 10 in the judged windows; 8 samples had no counts)",
		},
		{
			name:   "nothing counted",
			checks: []*journal.Series{load("hypothesis", map[string]any{"requests": 0.0, "successRatio": 0.0})},
			want:   requestCount{Checks: 1},
			text:   "— (the load checks counted no requests)",
		},
		{
			name:   "a load stop condition is not the hypothesis",
			checks: []*journal.Series{load("stop", map[string]any{"requests": 10.0, "errors": 10.0})},
			text:   "— (no load check)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := failedRequests(&journal.Journal{Checks: tt.checks})
			if got != tt.want {
				t.Errorf("failedRequests = %+v, want %+v", got, tt.want)
			}
			if got.String() != tt.text {
				t.Errorf("written as %q, want %q", got.String(), tt.text)
			}
		})
	}
}

func TestCheckImpact(t *testing.T) {
	tests := []struct {
		name      string
		s         *journal.Series
		worst     string
		outage    string
		outageAt  string
		failed    int
		worstWhen string
	}{
		{
			name:   "nothing failed",
			s:      &journal.Series{Tolerance: "< 1", Samples: []journal.Sample{{At: 1, OK: true, Value: f(0.5)}}},
			worst:  "0.5",
			outage: none, worstWhen: "1.000",
		},
		{
			name: "the longest of two stretches, ended by a passing sample",
			s: &journal.Series{Tolerance: "< 1", Samples: []journal.Sample{
				{At: 1, OK: false, Value: f(2)}, {At: 2, OK: true, Value: f(0.5)},
				{At: 3, OK: false, Value: f(3)}, {At: 4, OK: false}, {At: 5, OK: false, Value: f(1.5)}, {At: 6, OK: true, Value: f(0.1)},
			}},
			worst: "3", worstWhen: "3.000", outage: "3.000 s", outageAt: "3.000", failed: 4,
		},
		{
			name: "a stretch the run ended in lasts until its last sample is done",
			s: &journal.Series{Tolerance: "> 0.9", Samples: []journal.Sample{
				{At: 1, OK: true, Value: f(1)}, {At: 2, OK: false, Value: f(0.2), Took: 0.5}, {At: 3, OK: false, Value: f(0.4), Took: 0.25},
			}},
			worst: "0.2", worstWhen: "2.000", outage: "1.250 s", outageAt: "2.000", failed: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newCheckImpact(tt.s)
			if got.Worst != tt.worst || got.WorstAt != tt.worstWhen || got.Outage != tt.outage || got.OutageFrom != tt.outageAt || got.Failed != tt.failed {
				t.Errorf("impact = %+v; want worst %s at %s, outage %s from %s, %d failed", got, tt.worst, tt.worstWhen, tt.outage, tt.outageAt, tt.failed)
			}
		})
	}
}
