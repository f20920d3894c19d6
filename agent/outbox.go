package agent

import (
	"sync"

	"github.com/faultline-dev/faultline/agent/protocol"
)

// Limits of what waits for the server and of one request.
const (
	// maxPendingEvents bounds the events kept while the server cannot be
	// reached; past it the oldest ones are dropped (never an end event:
	// the journal it carries holds every event anyway).
	maxPendingEvents = 10000
	// maxBatchEvents and maxBatchBytes bound the events one poll carries;
	// a single larger event (a big journal) goes alone.
	maxBatchEvents = 1000
	maxBatchBytes  = 4 << 20
)

// outbox holds what the server has not acknowledged yet: run events and
// faults the agent recovered by itself. What a request carried is removed
// only once the server answered it, so a failed request is simply sent
// again (the server de-duplicates events by RunID and Seq).
type outbox struct {
	mu        sync.Mutex
	events    []protocol.RunEvent
	recovered []protocol.RecoveredFault
	dropped   int
}

type eventKey struct {
	run string
	seq int64
}

func keyOf(e protocol.RunEvent) eventKey { return eventKey{e.RunID, e.Seq} }

// addEvent queues e, dropping the oldest plain event when full.
func (o *outbox) addEvent(e protocol.RunEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.events) >= maxPendingEvents {
		for i, old := range o.events {
			if old.Journal == nil {
				o.events = append(o.events[:i], o.events[i+1:]...)
				o.dropped++
				break
			}
		}
	}
	o.events = append(o.events, e)
}

func (o *outbox) addRecovered(r protocol.RecoveredFault) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recovered = append(o.recovered, r)
}

// batch returns what the next request carries: the oldest events within
// the batch limits, and every recovered fault. It removes nothing.
func (o *outbox) batch() ([]protocol.RunEvent, []protocol.RecoveredFault) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, size := 0, 0
	for n < len(o.events) && n < maxBatchEvents {
		s := len(o.events[n].Event) + len(o.events[n].Journal) + 128
		if n > 0 && size+s > maxBatchBytes {
			break
		}
		size += s
		n++
	}
	return append([]protocol.RunEvent(nil), o.events[:n]...), append([]protocol.RecoveredFault(nil), o.recovered...)
}

// ack removes what an answered request carried.
func (o *outbox) ack(events []protocol.RunEvent, recovered []protocol.RecoveredFault) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(events) > 0 {
		sent := make(map[eventKey]bool, len(events))
		for _, e := range events {
			sent[keyOf(e)] = true
		}
		kept := o.events[:0]
		for _, e := range o.events {
			if !sent[keyOf(e)] {
				kept = append(kept, e)
			}
		}
		clear(o.events[len(kept):])
		o.events = kept
	}
	// Recovered faults are only appended, and a batch takes them all, so
	// the acknowledged ones are the first len(recovered).
	o.recovered = append([]protocol.RecoveredFault(nil), o.recovered[len(recovered):]...)
}

// unsentEnds lists the assignments whose end event (with the journal) is
// queued and not in batch.
func (o *outbox) unsentEnds(batch []protocol.RunEvent) []string {
	inBatch := map[eventKey]bool{}
	for _, e := range batch {
		inBatch[keyOf(e)] = true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var ids []string
	for _, e := range o.events {
		if e.Journal != nil && !inBatch[keyOf(e)] {
			ids = append(ids, e.AssignmentID)
		}
	}
	return ids
}

// takeDropped returns how many events were dropped since the last call.
func (o *outbox) takeDropped() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.dropped
	o.dropped = 0
	return n
}
