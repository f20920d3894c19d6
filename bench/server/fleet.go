package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline-dev/faultline/agent/protocol"
	"github.com/faultline-dev/faultline/journal"
)

// fleet is the simulated agents: idle ones that long-poll holding one
// open fault, and busy ones that run an assignment and stream its events
// twice a second.
type fleet struct {
	c          *client
	log        *slog.Logger
	agents     []*simAgent
	recoverFor time.Duration

	registered atomic.Int64
	polls      atomic.Int64
	mu         sync.Mutex
	busyPolls  []time.Duration
}

func newFleet(c *client, idle, busy int, recoverFor time.Duration, log *slog.Logger) *fleet {
	f := &fleet{c: c, log: log, recoverFor: recoverFor}
	for i := range idle + busy {
		a := &simAgent{f: f, name: fmt.Sprintf("sim-%04d", i), busy: i >= idle, holding: true, asgs: map[string]protocol.Assignment{}}
		a.labels = map[string]string{"zone": string(rune('a' + i%3)), "role": "idle"}
		if a.busy {
			a.labels["role"] = "busy"
		}
		f.agents = append(f.agents, a)
	}
	return f
}

// start runs every agent until ctx ends; the channel closes when all
// have stopped.
func (f *fleet) start(ctx context.Context) <-chan struct{} {
	var wg sync.WaitGroup
	spread := time.Duration(len(f.agents)) * 2 * time.Millisecond // registrations spread out
	for _, a := range f.agents {
		wg.Go(func() { a.run(ctx, time.Duration(rand.Int64N(int64(spread)+1))) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

func (f *fleet) waitRegistered(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for int(f.registered.Load()) < len(f.agents) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d agents registered in %s", f.registered.Load(), len(f.agents), within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func (f *fleet) resetStats() {
	f.polls.Store(0)
	f.mu.Lock()
	f.busyPolls = nil
	f.mu.Unlock()
}

// stats are the polls answered since resetStats, and the busy agents'
// poll latencies.
func (f *fleet) stats() (int64, []time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.polls.Load(), slices.Clone(f.busyPolls)
}

// sampleIDs are agent ids for API reads.
func (f *fleet) sampleIDs() []string {
	var ids []string
	for _, a := range f.agents[:min(len(f.agents), 100)] {
		ids = append(ids, a.agentID())
	}
	return ids
}

// told is how long after pressed the long-polling agents learnt of
// halt-all, and the last busy one (told at its next poll).
type told struct {
	p50, p99, max, busyMax time.Duration
}

// waitTold waits until every agent was told to halt all.
func (f *fleet) waitTold(ctx context.Context, pressed time.Time, within time.Duration) (told, error) {
	deadline := time.Now().Add(within)
	for {
		var idle []time.Duration
		var busyMax time.Duration
		n := 0
		for _, a := range f.agents {
			at := a.toldAt.Load()
			if at == 0 {
				continue
			}
			n++
			d := time.Unix(0, at).Sub(pressed)
			if a.busy {
				busyMax = max(busyMax, d)
			} else {
				idle = append(idle, d)
			}
		}
		if n == len(f.agents) {
			slices.Sort(idle)
			return told{p50: pct(idle, 50), p99: pct(idle, 99), max: idle[len(idle)-1], busyMax: busyMax}, nil
		}
		if time.Now().After(deadline) {
			return told{}, fmt.Errorf("%d of %d agents told of halt-all within %s", n, len(f.agents), within)
		}
		select {
		case <-ctx.Done():
			return told{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// reopen makes every agent hold its fault again and forget halt-all.
func (f *fleet) reopen() {
	for _, a := range f.agents {
		a.mu.Lock()
		a.holding = true
		a.toldAt.Store(0)
		a.mu.Unlock()
	}
}

// simAgent speaks the agent protocol like faultline agent, without
// running anything.
type simAgent struct {
	f      *fleet
	name   string
	busy   bool
	labels map[string]string

	mu        sync.Mutex
	id        string
	holding   bool // its one open fault
	recovered []protocol.RecoveredFault
	asgs      map[string]protocol.Assignment
	seq       int64
	ending    []protocol.RunEvent
	toldAt    atomic.Int64
}

func (a *simAgent) agentID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

func (a *simAgent) run(ctx context.Context, delay time.Duration) {
	if !sleep(ctx, delay) {
		return
	}
	for ctx.Err() == nil {
		var reg protocol.Registered
		err := a.f.c.call(ctx, "POST", "/api/v1/agents/register", protocol.Register{Name: a.name, Hostname: a.name, Labels: a.labels, Version: "bench"}, &reg)
		if err == nil {
			a.mu.Lock()
			a.id = reg.AgentID
			a.mu.Unlock()
			break
		}
		a.f.log.Warn("register", "agent", a.name, "err", err)
		sleep(ctx, time.Second)
	}
	a.f.registered.Add(1)
	for ctx.Err() == nil {
		p, streaming := a.next()
		start := time.Now()
		var reply protocol.PollReply
		if err := a.f.c.call(ctx, "POST", "/api/v1/agents/"+a.id+"/poll", p, &reply); err != nil {
			if ctx.Err() == nil {
				a.f.log.Warn("poll", "agent", a.name, "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		took := time.Since(start)
		a.f.polls.Add(1)
		if streaming {
			a.f.mu.Lock()
			a.f.busyPolls = append(a.f.busyPolls, took)
			a.f.mu.Unlock()
		}
		a.handle(p, reply)
		if reply.HaltAll {
			sleep(ctx, a.f.recoverFor) // the agent recovers its faults, then reports
		}
		if streaming {
			sleep(ctx, 500*time.Millisecond)
		}
	}
}

// next is the next poll: the open fault, what was recovered, and for a
// busy agent with an assignment, five events and a short hold.
func (a *simAgent) next() (protocol.Poll, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := protocol.Poll{Labels: a.labels, Recovered: a.recovered, Events: a.ending}
	if a.holding {
		p.OpenFaults = []protocol.OpenFault{{ID: a.name + "-f1", Kind: "process.pause", Target: "pid 4242 (worker)", Since: time.Now().Add(-time.Hour)}}
	}
	for id, asg := range a.asgs {
		p.Running = append(p.Running, id)
		for range 5 {
			a.seq++
			ev, _ := json.Marshal(journal.Event{At: float64(a.seq), Time: time.Now().UTC(), Type: journal.FaultNote, Message: "benchmark event"})
			p.Events = append(p.Events, protocol.RunEvent{AssignmentID: id, RunID: asg.RunID, Seq: a.seq, Event: ev})
		}
	}
	streaming := len(a.asgs) > 0
	if streaming {
		p.Wait = protocol.Duration(time.Millisecond)
	}
	return p, streaming
}

// handle acts on an answer: what was sent is acknowledged; halts end the
// assignments (their journal goes with the next poll) and the fault.
func (a *simAgent) handle(sent protocol.Poll, r protocol.PollReply) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recovered = a.recovered[len(sent.Recovered):]
	if len(sent.Events) > 0 {
		a.ending = nil
	}
	if r.HaltAll {
		a.toldAt.CompareAndSwap(0, time.Now().UnixNano())
		if a.holding {
			a.holding = false
			a.recovered = append(a.recovered, protocol.RecoveredFault{ID: a.name + "-f1", Kind: "process.pause", At: time.Now().UTC(), Reason: "halt all"})
		}
	}
	for id, asg := range a.asgs {
		if r.HaltAll || slices.Contains(r.Halt, id) {
			a.seq++
			j, _ := json.Marshal(journal.Journal{APIVersion: journal.APIVersion, Run: asg.RunID, Name: "bench-busy", Status: journal.Aborted,
				Reason: "halted by the server", Started: asg.Created, Ended: time.Now().UTC()})
			a.ending = append(a.ending, protocol.RunEvent{AssignmentID: id, RunID: asg.RunID, Seq: a.seq, Journal: j})
			delete(a.asgs, id)
		}
	}
	if !r.HaltAll {
		for _, asg := range r.Assignments {
			a.asgs[asg.ID] = asg
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
