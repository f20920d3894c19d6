package agent

import (
	"testing"
	"time"
)

func TestLeaseExpired(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name         string
		lease, grace time.Duration
		after        time.Duration // now - contact
		want         bool
	}{
		{"fresh", 10 * time.Second, time.Second, 0, false},
		{"just before lease less grace", 10 * time.Second, time.Second, 9*time.Second - time.Nanosecond, false},
		{"at lease less grace", 10 * time.Second, time.Second, 9 * time.Second, true},
		{"long after", 10 * time.Second, time.Second, time.Hour, true},
		{"no grace: at the lease", 10 * time.Second, 0, 10 * time.Second, true},
		{"no grace: before the lease", 10 * time.Second, 0, 10*time.Second - time.Millisecond, false},
		{"grace past half the lease waits half", 2 * time.Second, 5 * time.Second, 999 * time.Millisecond, false},
		{"grace past half the lease: at half", 2 * time.Second, 5 * time.Second, time.Second, true},
		{"negative grace is none", 10 * time.Second, -time.Second, 10*time.Second - time.Millisecond, false},
		{"no lease never expires", 0, time.Second, time.Hour, false},
		{"clock behind contact", 10 * time.Second, time.Second, -time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := leaseExpired(t0.Add(tt.after), t0, tt.lease, tt.grace); got != tt.want {
				t.Errorf("leaseExpired(contact+%s, lease %s, grace %s) = %v, want %v", tt.after, tt.lease, tt.grace, got, tt.want)
			}
		})
	}
}

func TestPollTimeout(t *testing.T) {
	tests := []struct {
		wait, lease, want time.Duration
	}{
		{20 * time.Second, time.Minute, 30 * time.Second},
		{20 * time.Second, 0, 30 * time.Second},
		{300 * time.Millisecond, 2 * time.Second, 1300 * time.Millisecond},
		{300 * time.Millisecond, 4 * time.Second, 2300 * time.Millisecond},
		{0, 0, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := pollTimeout(tt.wait, tt.lease); got != tt.want {
			t.Errorf("pollTimeout(wait %s, lease %s) = %s, want %s", tt.wait, tt.lease, got, tt.want)
		}
	}
}
