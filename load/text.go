package load

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the figures for people, one aspect a line:
//
//	requests  2000 in 10s (200.0/s); 1998 ok (99.90%)
//	status    200 ×1998  503 ×2
//	errors    none
//	latency   p50 312µs  p90 450µs  p99 1.2ms  p99.9 3.4ms  max 5.6ms  mean 340µs
//
// then, with several targets, a table of each one's figures.
func (s Stats) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "requests  %d in %s (%.1f/s); %d ok (%.2f%%)\n", s.Requests, round(s.Duration), s.Rate, s.OK, 100*s.SuccessRatio)
	b.WriteString("status   ")
	for _, code := range sortedKeys(s.Status) {
		fmt.Fprintf(&b, " %d ×%d ", code, s.Status[code])
	}
	if len(s.Status) == 0 {
		b.WriteString(" none")
	}
	b.WriteString("\nerrors   ")
	for _, kind := range sortedKeys(s.Errors) {
		fmt.Fprintf(&b, " %s ×%d (%s) ", kind, s.Errors[kind], s.ErrorExamples[kind])
	}
	if len(s.Errors) == 0 {
		b.WriteString(" none")
	}
	b.WriteString("\n")
	if s.Requests > 0 {
		l := s.Latency
		fmt.Fprintf(&b, "latency   p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
			round(l.P50), round(l.P90), round(l.P99), round(l.P999), round(l.Max), round(l.Mean))
	}
	if len(s.Targets) > 0 {
		b.WriteString("\n")
		writeTargets(&b, s.Targets)
	}
	_, err := io.WriteString(w, strings.ReplaceAll(b.String(), " \n", "\n"))
	return err
}

// writeTargets writes a table of each target's figures:
//
//	target                        weight  requests  rate     ok       p50    p90    p99    max    status
//	GET http://127.0.0.1:8080/    3       1500      150.0/s  100.00%  310µs  440µs  1.1ms  5.6ms  200 ×1500
//	POST http://127.0.0.1:8080/c  1       500       50.0/s   99.60%   420µs  610µs  1.9ms  4.2ms  200 ×498  timeout ×2
func writeTargets(w io.Writer, targets []TargetStats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tweight\trequests\trate\tok\tp50\tp90\tp99\tmax\tstatus")
	for _, t := range targets {
		var codes []string
		for _, code := range sortedKeys(t.Status) {
			codes = append(codes, fmt.Sprintf("%d ×%d", code, t.Status[code]))
		}
		for _, kind := range sortedKeys(t.Errors) {
			codes = append(codes, fmt.Sprintf("%s ×%d", kind, t.Errors[kind]))
		}
		l := t.Latency
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f/s\t%.2f%%\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Weight, t.Requests, t.Rate, 100*t.SuccessRatio,
			round(l.P50), round(l.P90), round(l.P99), round(l.Max), strings.Join(codes, "  "))
	}
	_ = tw.Flush() // the strings.Builder it writes to never fails
}
