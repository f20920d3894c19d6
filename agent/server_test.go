package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/agent/protocol"
	"github.com/faultline-dev/faultline/journal"
)

// fakeServer is the control plane's side of package protocol, with its
// state in memory. It stands for the real server in these tests: it
// registers agents by name, holds polls up to its wait (or the poll's),
// hands out assignments and halts, de-duplicates events by RunID and Seq,
// and can go dark (hold every request unanswered) to trip the dead man's
// switch.
type fakeServer struct {
	t           *testing.T
	token       string
	lease, wait time.Duration
	url         string
	quit        chan struct{}

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	dark    bool
	// lose is how many more polls to record and then answer with an
	// error, as if the answer were lost on the way.
	lose   int
	agents map[string]*fakeAgent // by name
}

// fakeAgent is what the server knows of one agent.
type fakeAgent struct {
	id            string
	registrations []protocol.Register
	polls         []protocol.Poll
	queue         []protocol.Assignment
	halt          []string
	haltAll       bool
	events        map[string]map[int64]protocol.RunEvent // run → seq → event
	dupes         int                                    // events received again after a failed poll
	journals      map[string]*journal.Journal            // by assignment
	recovered     []protocol.RecoveredFault
	running       []string
	openFaults    []protocol.OpenFault
}

func newFakeServer(t *testing.T, lease, wait time.Duration) *fakeServer {
	s := &fakeServer{
		t: t, token: "agent-token", lease: lease, wait: wait, quit: make(chan struct{}),
		changed: make(chan struct{}), agents: map[string]*fakeAgent{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/agents/register", s.register)
	mux.HandleFunc("POST /api/v1/agents/{id}/poll", s.poll)
	srv := httptest.NewServer(mux)
	s.url = srv.URL
	t.Cleanup(func() {
		close(s.quit)
		srv.Close()
	})
	return s
}

// notify wakes everyone waiting for a change; the caller holds s.mu.
func (s *fakeServer) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// setDark makes the server stop answering (true) or answer again.
func (s *fakeServer) setDark(dark bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dark = dark
	s.notify()
}

func (s *fakeServer) assign(name string, asg protocol.Assignment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.agents[name]
	if asg.Created.IsZero() {
		asg.Created = time.Now()
	}
	a.queue = append(a.queue, asg)
	s.notify()
}

func (s *fakeServer) halt(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.agents[name]
	a.halt = append(a.halt, id)
	s.notify()
}

// forget drops what the server knows of an agent, as a server that lost
// its store would.
func (s *fakeServer) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.agents, name)
	s.notify()
}

// loseAnswers makes the next n polls' answers get lost.
func (s *fakeServer) loseAnswers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose = n
}

func (s *fakeServer) haltAll(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agents[name].haltAll = true
	s.notify()
}

// waitFor waits (bounded) until cond holds for the agent called name.
func (s *fakeServer) waitFor(d time.Duration, name, what string, cond func(a *fakeAgent) bool) {
	s.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		a, ok := s.agents[name]
		done := ok && cond(a)
		ch := s.changed
		s.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			s.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}

// read runs fn on the agent's state under the lock.
func (s *fakeServer) read(name string, fn func(a *fakeAgent)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.agents[name])
}

// answerable holds a request while the server is dark, and reports
// whether it may be answered; it answers 503 itself when the server was
// dark (the connection was as good as lost).
func (s *fakeServer) answerable(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	wasDark := s.dark
	for s.dark {
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
			return false
		case <-s.quit:
			return false
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	if wasDark {
		http.Error(w, "the server was down", http.StatusServiceUnavailable)
		return false
	}
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, "no valid token", http.StatusUnauthorized)
		return false
	}
	return true
}

func (s *fakeServer) register(w http.ResponseWriter, r *http.Request) {
	if !s.answerable(w, r) {
		return
	}
	var reg protocol.Register
	if err := json.NewDecoder(r.Body).Decode(&reg); err != nil || reg.Name == "" {
		http.Error(w, "bad register", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	a, ok := s.agents[reg.Name]
	if !ok {
		a = &fakeAgent{id: "agent-" + reg.Name, events: map[string]map[int64]protocol.RunEvent{}, journals: map[string]*journal.Journal{}}
		s.agents[reg.Name] = a
	}
	a.registrations = append(a.registrations, reg)
	a.recovered = append(a.recovered, reg.Recovered...)
	s.notify()
	s.mu.Unlock()
	writeJSON(w, protocol.Registered{AgentID: a.id, Lease: protocol.Duration(s.lease), Wait: protocol.Duration(s.wait)})
}

func (s *fakeServer) poll(w http.ResponseWriter, r *http.Request) {
	if !s.answerable(w, r) {
		return
	}
	var p protocol.Poll
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, "bad poll: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	var a *fakeAgent
	for _, x := range s.agents {
		if x.id == r.PathValue("id") {
			a = x
		}
	}
	if a == nil {
		s.mu.Unlock()
		http.Error(w, "unknown agent", http.StatusNotFound)
		return
	}
	if err := a.record(p); err != nil {
		s.mu.Unlock()
		s.t.Errorf("agent sent a bad poll: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.notify()
	if s.lose > 0 {
		s.lose--
		s.mu.Unlock()
		http.Error(w, "answer lost", http.StatusBadGateway)
		return
	}
	wait := s.wait
	if p.Wait > 0 {
		wait = min(wait, time.Duration(p.Wait))
	}
	hold := time.NewTimer(wait)
	defer hold.Stop()
	for held := true; held && len(a.queue) == 0 && len(a.halt) == 0 && !a.haltAll && !s.dark; {
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-hold.C:
			held = false
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		}
		s.mu.Lock()
	}
	if s.dark { // went dark while holding: never answers
		s.mu.Unlock()
		s.answerable(w, r)
		return
	}
	reply := protocol.PollReply{Assignments: a.queue, Halt: a.halt, HaltAll: a.haltAll, Lease: protocol.Duration(s.lease)}
	a.queue, a.halt, a.haltAll = nil, nil, false
	s.mu.Unlock()
	writeJSON(w, reply)
}

// record keeps what a poll carries, de-duplicating events.
func (a *fakeAgent) record(p protocol.Poll) error {
	a.polls = append(a.polls, p)
	for _, e := range p.Events {
		if (e.Event == nil) == (e.Journal == nil) {
			return fmt.Errorf("event %s/%d has neither or both an event and a journal", e.RunID, e.Seq)
		}
		run := a.events[e.RunID]
		if run == nil {
			run = map[int64]protocol.RunEvent{}
			a.events[e.RunID] = run
		}
		if _, dup := run[e.Seq]; dup {
			a.dupes++
			continue
		}
		run[e.Seq] = e
		if e.Journal != nil {
			var j journal.Journal
			if err := json.Unmarshal(e.Journal, &j); err != nil {
				return fmt.Errorf("journal of %s: %v", e.AssignmentID, err)
			}
			a.journals[e.AssignmentID] = &j
		}
	}
	a.recovered = append(a.recovered, p.Recovered...)
	a.running, a.openFaults = p.Running, p.OpenFaults
	return nil
}

// eventTypes lists a run's journal event types in Seq order, checking
// that the sequence has no gap and ends with the journal.
func (a *fakeAgent) eventTypes(t *testing.T, run string) []journal.EventType {
	t.Helper()
	evs := a.events[run]
	var types []journal.EventType
	for seq := int64(1); seq <= int64(len(evs)); seq++ {
		e, ok := evs[seq]
		if !ok {
			t.Fatalf("run %s: event %d of %d missing", run, seq, len(evs))
		}
		if e.Journal != nil {
			if seq != int64(len(evs)) {
				t.Errorf("run %s: the journal came with event %d of %d, not the last", run, seq, len(evs))
			}
			continue
		}
		var je journal.Event
		if err := json.Unmarshal(e.Event, &je); err != nil {
			t.Fatalf("run %s event %d: %v", run, seq, err)
		}
		types = append(types, je.Type)
	}
	return types
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
