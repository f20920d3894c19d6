package agent

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	tests := []struct {
		name     string
		attempt  int
		lease    time.Duration
		min, max time.Duration
	}{
		{"first retry", 0, 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{"doubles", 1, 0, 100 * time.Millisecond, 200 * time.Millisecond},
		{"doubles again", 3, 0, 400 * time.Millisecond, 800 * time.Millisecond},
		{"capped at max", 10, 0, time.Second, 2 * time.Second},
		{"no overflow after many failures", 1 << 20, 0, time.Second, 2 * time.Second},
		{"a quarter of the lease", 10, 2 * time.Second, 250 * time.Millisecond, 500 * time.Millisecond},
		{"never below min", 10, 200 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond},
		{"long lease leaves max", 10, time.Hour, time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The extremes of the jitter, then random draws.
			lowest := b.delay(tt.attempt, tt.lease, func(int64) int64 { return 0 })
			highest := b.delay(tt.attempt, tt.lease, func(n int64) int64 { return n - 1 })
			if lowest != tt.min || highest != tt.max {
				t.Errorf("delay spans [%s, %s], want [%s, %s]", lowest, highest, tt.min, tt.max)
			}
			for range 1000 {
				if d := b.delay(tt.attempt, tt.lease, rand.Int64N); d < tt.min || d > tt.max {
					t.Fatalf("delay %s outside [%s, %s]", d, tt.min, tt.max)
				}
			}
		})
	}
}
