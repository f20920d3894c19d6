package agent

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/agent/protocol"
)

func ev(run string, seq int64) protocol.RunEvent {
	return protocol.RunEvent{AssignmentID: "a-" + run, RunID: run, Seq: seq, Event: json.RawMessage(`{"type":"phase"}`)}
}

func end(run string, seq int64, size int) protocol.RunEvent {
	return protocol.RunEvent{AssignmentID: "a-" + run, RunID: run, Seq: seq, Journal: json.RawMessage(`"` + strings.Repeat("j", size) + `"`)}
}

func keys(es []protocol.RunEvent) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s/%d", e.RunID, e.Seq))
	}
	return out
}

func TestOutboxResendsUntilAcknowledged(t *testing.T) {
	var o outbox
	o.addEvent(ev("r1", 1))
	o.addEvent(ev("r1", 2))
	o.addRecovered(protocol.RecoveredFault{ID: "f1", Reason: ReasonLeaseExpired})

	// A poll that failed acknowledges nothing: the next one carries the same.
	first, rec1 := o.batch()
	again, rec2 := o.batch()
	if !slices.Equal(keys(first), keys(again)) || len(rec1) != 1 || len(rec2) != 1 {
		t.Fatalf("batch after a failed poll = %v %v, want %v %v", keys(again), rec2, keys(first), rec1)
	}

	// Events and faults queued while a poll is in flight stay for the next.
	o.addEvent(ev("r1", 3))
	o.addEvent(ev("r2", 1))
	o.addRecovered(protocol.RecoveredFault{ID: "f2", Reason: ReasonLeaseExpired})
	o.ack(again, rec2)
	next, rec3 := o.batch()
	if want := []string{"r1/3", "r2/1"}; !slices.Equal(keys(next), want) {
		t.Errorf("after ack: events %v, want %v", keys(next), want)
	}
	if len(rec3) != 1 || rec3[0].ID != "f2" {
		t.Errorf("after ack: recovered %v, want f2 only", rec3)
	}
	o.ack(next, rec3)
	if es, rs := o.batch(); len(es) != 0 || len(rs) != 0 {
		t.Errorf("after acking everything: %v %v", keys(es), rs)
	}
}

func TestOutboxBatchLimits(t *testing.T) {
	tests := []struct {
		name   string
		queue  []protocol.RunEvent
		want   int // events in the first batch
		reason string
	}{
		{"all small ones", []protocol.RunEvent{ev("r", 1), ev("r", 2), ev("r", 3)}, 3, ""},
		{"event count", func() []protocol.RunEvent {
			var es []protocol.RunEvent
			for i := range maxBatchEvents + 5 {
				es = append(es, ev("r", int64(i+1)))
			}
			return es
		}(), maxBatchEvents, "at most maxBatchEvents"},
		{"a big journal goes alone", []protocol.RunEvent{end("r", 1, maxBatchBytes+1), ev("s", 1)}, 1, "first event is always sent"},
		{"a big journal waits for the next poll", []protocol.RunEvent{ev("s", 1), end("r", 1, maxBatchBytes)}, 1, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o outbox
			for _, e := range tt.queue {
				o.addEvent(e)
			}
			got, _ := o.batch()
			if len(got) != tt.want {
				t.Fatalf("batch of %d events, want %d (%s)", len(got), tt.want, tt.reason)
			}
			if !slices.Equal(keys(got), keys(tt.queue[:tt.want])) {
				t.Errorf("batch %v is not the oldest events", keys(got))
			}
		})
	}
}

func TestOutboxDropsOldestEventsButNeverAnEnd(t *testing.T) {
	var o outbox
	o.addEvent(end("r0", 1, 10))
	for i := range maxPendingEvents + 10 {
		o.addEvent(ev("r1", int64(i+1)))
	}
	if n := o.takeDropped(); n != 11 {
		t.Errorf("dropped %d, want 11", n)
	}
	if n := o.takeDropped(); n != 0 {
		t.Errorf("dropped counted twice: %d", n)
	}
	all, _ := o.batch()
	if all[0].RunID != "r0" || all[0].Journal == nil {
		t.Errorf("the end event was dropped: first is %s", keys(all[:1]))
	}
	if all[1].Seq != 12 {
		t.Errorf("oldest kept plain event has seq %d, want 12", all[1].Seq)
	}
}

func TestRunningListsQueuedEnds(t *testing.T) {
	var o outbox
	o.addEvent(ev("r1", 1))
	o.addEvent(end("r1", 2, 1))
	o.addEvent(end("r2", 5, 1))
	a := &Agent{runs: map[string]*execution{"a-r3": {}}}
	a.out.events = o.events
	tests := []struct {
		name  string
		batch []protocol.RunEvent
		want  []string
	}{
		{"nothing sent yet", nil, []string{"a-r1", "a-r2", "a-r3"}},
		{"r1's journal goes now", o.events[:2], []string{"a-r2", "a-r3"}},
		{"both journals go now", o.events, []string{"a-r3"}},
	}
	for _, tt := range tests {
		if got := a.running(tt.batch); !slices.Equal(got, tt.want) {
			t.Errorf("%s: running = %v, want %v", tt.name, got, tt.want)
		}
	}
}
