package proxy

import (
	"testing"
	"time"
)

// Alarms ring at their time, not before; an alarm earlier than the one the
// clock sleeps for wakes it. The bounds on lateness are loose: the
// precision is the benchmarks' business.
func TestClock(t *testing.T) {
	start := time.Now()
	late := alarmAt(start.Add(300 * time.Millisecond))
	time.Sleep(time.Millisecond) // the clock now sleeps for late
	deadlines := []time.Duration{2 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, 9 * time.Millisecond}
	rings := make([]<-chan struct{}, len(deadlines))
	for i, d := range deadlines {
		rings[i] = alarmAt(start.Add(d))
	}
	for i, r := range rings {
		<-r
		got := time.Since(start)
		if got < deadlines[i] || got > deadlines[i]+50*time.Millisecond {
			t.Errorf("alarm for %v rang at %v", deadlines[i], got)
		}
	}
	select {
	case <-late:
		t.Fatal("the 300ms alarm rang early")
	default:
	}
	<-late
	if got := time.Since(start); got < 300*time.Millisecond {
		t.Fatalf("the 300ms alarm rang at %v", got)
	}
}
