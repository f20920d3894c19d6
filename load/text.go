package load

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the figures for people, one aspect a line:
//
//	requests  2000 in 10s (200.0/s); 1998 ok (99.90%)
//	status    200 ×1998  503 ×2
//	errors    none
//	latency   p50 312µs  p90 450µs  p99 1.2ms  p99.9 3.4ms  max 5.6ms  mean 340µs
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
	_, err := io.WriteString(w, strings.ReplaceAll(b.String(), " \n", "\n"))
	return err
}
