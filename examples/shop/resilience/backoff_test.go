package resilience

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	ms := func(n float64) Duration { return Duration(n * float64(time.Millisecond)) }
	for _, tc := range []struct {
		name  string
		edge  Edge
		retry int
		r     float64
		want  time.Duration
	}{
		{"none", Edge{}, 3, 0.5, 0},
		{"first retry waits backoff", Edge{Backoff: ms(100)}, 0, 0, 100 * time.Millisecond},
		{"then doubles", Edge{Backoff: ms(100)}, 2, 0, 400 * time.Millisecond},
		{"up to the cap", Edge{Backoff: ms(100), MaxBackoff: ms(250)}, 2, 0, 250 * time.Millisecond},
		{"uncapped", Edge{Backoff: ms(1)}, 10, 0, 1024 * time.Millisecond},
		{"jitter takes a random share", Edge{Backoff: ms(100), Jitter: 0.5}, 0, 0.5, 75 * time.Millisecond},
		{"full jitter can reach zero", Edge{Backoff: ms(100), Jitter: 1}, 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoff(tc.edge, tc.retry, tc.r); got != tc.want {
				t.Errorf("backoff = %s, want %s", got, tc.want)
			}
		})
	}
}
