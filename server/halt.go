package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/store"
)

// halts is which agents are still to be told to halt everything. The
// store's flags are the durable record; this set answers polls without a
// write each, so halt-all reaches thousands of long-polling agents at once.
// Told agents' flags are cleared in the store in batches afterwards; an
// agent told again after a crash in between just halts again.
type halts struct {
	st  store.Store
	log *slog.Logger

	mu      sync.Mutex // also keeps clears and new halt-alls in order
	pending map[string]bool
	told    []string // flags to clear
	kick    chan struct{}
}

func newHalts(ctx context.Context, st store.Store, log *slog.Logger) (*halts, error) {
	ids, err := st.HaltAllPending(ctx)
	if err != nil {
		return nil, err
	}
	h := &halts{st: st, log: log, pending: map[string]bool{}, kick: make(chan struct{}, 1)}
	for _, id := range ids {
		h.pending[id] = true
	}
	return h, nil
}

// request runs fn — a transaction that flags agents with
// store.RequestHaltAll and returns them — and, once it is committed, marks
// them pending. Clears of earlier halt-alls are written first, so none can
// clear the new flags.
func (h *halts) request(ctx context.Context, fn func() (flagged []string, err error)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.flushLocked(ctx); err != nil {
		return err
	}
	flagged, err := fn()
	if err != nil {
		return err
	}
	for _, id := range flagged {
		h.pending[id] = true
	}
	return nil
}

// take reports whether agent is to be told, and counts it as told.
func (h *halts) take(agent string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.pending[agent] {
		return false
	}
	delete(h.pending, agent)
	h.told = append(h.told, agent)
	select {
	case h.kick <- struct{}{}:
	default:
	}
	return true
}

// run clears the flags of told agents, in batches, until ctx ends.
func (h *halts) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			h.mu.Lock()
			if err := h.flushLocked(context.WithoutCancel(ctx)); err != nil {
				h.log.Warn("halt-all flags not cleared; those agents are told again after a restart", "err", err)
			}
			h.mu.Unlock()
			return
		case <-h.kick:
		}
		time.Sleep(50 * time.Millisecond) // gather the fan-out into few writes
		h.mu.Lock()
		if err := h.flushLocked(ctx); err != nil {
			h.log.Error("cannot clear halt-all flags", "err", err)
		}
		h.mu.Unlock()
	}
}

func (h *halts) flushLocked(ctx context.Context) error {
	if len(h.told) == 0 {
		return nil
	}
	if err := h.st.ClearHaltAll(ctx, h.told); err != nil {
		return err
	}
	h.told = nil
	return nil
}
