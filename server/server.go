// Package server is faultline's control plane: a JSON API under /api/v1/
// (documented in /api/openapi.json) that keeps experiments and their
// versions, starts runs — on the server itself with the same engine as
// `faultline run`, or on host agents chosen by labels and a mode — streams
// their events, halts one run or everything, speaks the agent protocol
// (package agent/protocol: register, long-poll heartbeats, leases),
// schedules runs by cron or in Chaos Monkey mode, notifies webhooks, and
// audits every change. State lives in a store.Store.
//
// Requests carry bearer tokens with roles (package auth). Every mutation
// and its audit entry are one transaction: a request that fails changes
// nothing.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/ledger"
	"github.com/faultline-dev/faultline/server/webhook"
	"github.com/faultline-dev/faultline/store"
)

// Defaults of Config.
const (
	DefaultLease    = 30 * time.Second
	DefaultPollWait = 10 * time.Second
)

// Config is what a Server needs; main wires it.
type Config struct {
	Store store.Store
	// Ledger records the faults of runs the server executes itself; on
	// start, what it holds open (the server died mid-run) is recovered.
	Ledger *ledger.Ledger
	// Catalog validates documents (engine.Catalog()).
	Catalog experiment.Catalog
	Logger  *slog.Logger
	// Lease is how long an agent may hold faults without reaching the
	// server; PollWait is how long a poll is held open (less than half
	// the lease, so a healthy agent always renews in time).
	Lease    time.Duration
	PollWait time.Duration
	// AdminToken, when set and the store has no token yet, is stored as
	// the first admin token.
	AdminToken string
	// Webhooks are URLs notified of every run event, besides those
	// configured through the API.
	Webhooks []string
	// HTTPClient sends webhooks (default: a client with a timeout).
	HTTPClient *http.Client
	// Rand draws Chaos Monkey times (default: randomly seeded).
	Rand *rand.Rand
}

// Server is the control plane. Serve its Handler, call Run for its
// background work, and Close it to halt the runs it executes.
type Server struct {
	cfg    Config
	st     store.Store
	log    *slog.Logger
	hub    *hub
	halts  *halts
	notify *webhook.Notifier
	mux    *http.ServeMux
	routes []route

	// base is the context of runs the server executes; closing ends
	// long polls and event streams at shutdown.
	base    context.Context
	stop    context.CancelFunc
	closing chan struct{}
	close   sync.Once

	mu       sync.Mutex
	local    map[string]*localRun // runs executing on the server, by id
	runs     sync.WaitGroup       // reserved and executing runs
	stopping bool
	rng      *rand.Rand
}

// New checks cfg, recovers what a previous server left behind (faults in
// its ledger, runs it was executing, agents' leases), seeds the admin
// token, and returns a server ready to serve.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Catalog == nil {
		return nil, errors.New("server: a store and a catalog are required")
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.PollWait == 0 {
		cfg.PollWait = DefaultPollWait
	}
	if cfg.PollWait*2 > cfg.Lease {
		return nil, fmt.Errorf("server: the poll wait %s must be at most half the lease %s, so agents renew their lease in time", cfg.PollWait, cfg.Lease)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	fixed := make([]webhook.Target, 0, len(cfg.Webhooks))
	for _, u := range cfg.Webhooks {
		if err := webhook.CheckURL(u); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		fixed = append(fixed, webhook.Target{URL: u})
	}
	s := &Server{
		cfg: cfg, st: cfg.Store, log: cfg.Logger, hub: newHub(),
		closing: make(chan struct{}), local: map[string]*localRun{}, rng: cfg.Rand,
	}
	s.base, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	s.notify = webhook.New(cfg.Logger, cfg.HTTPClient, fixed, s.webhookTargets)
	if err := s.recoverState(ctx); err != nil {
		return nil, err
	}
	var err error
	if s.halts, err = newHalts(ctx, s.st, s.log); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := s.seedAdmin(ctx); err != nil {
		return nil, err
	}
	s.routes = s.routeTable()
	s.mux = s.buildMux()
	return s, nil
}

// Handler serves the API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Run does the background work — marking agents lost after their lease,
// starting scheduled runs, delivering webhooks, recording halt-alls told —
// until ctx ends.
func (s *Server) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.notify.Run(ctx) })
	wg.Go(func() { s.halts.run(ctx) })
	wg.Go(func() { s.watchLeases(ctx) })
	wg.Go(func() { s.schedule(ctx) })
	wg.Wait()
}

// Close ends long polls and event streams, halts the runs the server
// executes and waits until they have recovered their faults and stored
// their journals (or ctx ends).
func (s *Server) Close(ctx context.Context) error {
	s.close.Do(func() { close(s.closing) })
	s.mu.Lock()
	s.stopping = true // no run is reserved after this, so Wait below is alone
	for _, r := range s.local {
		r.halt("the server is stopping")
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.runs.Wait(); close(done) }()
	select {
	case <-done:
		s.stop()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("server: runs still recovering at shutdown (the next start recovers them from the ledger): %w", ctx.Err())
	}
}

// utcNow is the time the server stamps on what it stores: UTC, to the
// microsecond both stores keep, so an answer and a later read agree.
func utcNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
