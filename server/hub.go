package server

import "sync"

// hub wakes whoever waits on news: an agent's long poll (new assignment,
// halt) and a run's event streams (new events, the end). A waiter takes
// its channel before it reads the state, so news that lands in between
// still wakes it.
type hub struct {
	mu     sync.Mutex
	agents map[string]chan struct{}
	runs   map[string]chan struct{}
}

func newHub() *hub {
	return &hub{agents: map[string]chan struct{}{}, runs: map[string]chan struct{}{}}
}

func waitOn(m map[string]chan struct{}, id string) <-chan struct{} {
	ch, ok := m[id]
	if !ok {
		ch = make(chan struct{})
		m[id] = ch
	}
	return ch
}

func wake(m map[string]chan struct{}, id string) {
	if ch, ok := m[id]; ok {
		close(ch)
		delete(m, id)
	}
}

// agent is closed at the agent's next news.
func (h *hub) agent(id string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return waitOn(h.agents, id)
}

func (h *hub) wakeAgents(ids ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		wake(h.agents, id)
	}
}

func (h *hub) wakeAllAgents() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.agents {
		wake(h.agents, id)
	}
}

// run is closed at the run's next news.
func (h *hub) run(id string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return waitOn(h.runs, id)
}

func (h *hub) wakeRun(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	wake(h.runs, id)
}
