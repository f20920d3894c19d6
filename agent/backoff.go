package agent

import "time"

// Backoff is how long the agent waits between attempts to reach the server:
// exponential from Min to Max, and each delay jittered to between half of
// it and all of it, so agents that lost the server together do not all come
// back in the same instant.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff is the retry policy when Config.Backoff is zero.
var DefaultBackoff = Backoff{Min: 250 * time.Millisecond, Max: 15 * time.Second}

// delay is the wait before retry number attempt (0 for the first retry).
// With a lease it is at most a quarter of the lease, so several attempts
// fit before the dead man's switch fires. jitter(n) returns a number in
// [0, n); rand.Int64N in production.
func (b Backoff) delay(attempt int, lease time.Duration, jitter func(n int64) int64) time.Duration {
	ceil := b.Max
	if lease > 0 {
		ceil = min(ceil, lease/4)
	}
	ceil = max(ceil, b.Min)
	d := b.Min
	for i := 0; i < attempt && d < ceil; i++ {
		d *= 2
	}
	d = min(d, ceil)
	half := d / 2
	if half <= 0 {
		return d
	}
	return d - half + time.Duration(jitter(int64(half)+1))
}
