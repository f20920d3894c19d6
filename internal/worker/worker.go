// Package worker holds the lifecycle shared by faultline's worker
// processes: the running binary re-executed by a fault kind, with an
// environment marker and fault.TagEnv=<fault id>, to apply the fault's
// effect out of faultline's own process.
//
// A worker bounds its own life with Watch: it stops when its parent dies,
// its Deadline passes or it is told to terminate. The parent, or a later
// recovery working from the record alone, finds a fault's workers with
// Find (by pid and start time, and by the fault id in their environment),
// signals them and waits with WaitGone until they are gone.
//
// What differs between kinds (the worker's arguments, its ready line, how
// it is started and the order of signals that stop it) stays with the kind.
package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
)

const (
	// Grace is how long a worker outlives its fault's duration before it
	// stops by itself, should nobody recover it.
	Grace = time.Minute
	// Cap is a worker's deadline for a fault with no duration.
	Cap = 24 * time.Hour
)

// Deadline is when a worker started now for a fault lasting d (0: no
// duration) stops by itself: d plus Grace from now, or Cap from now.
func Deadline(d time.Duration) time.Time {
	if d > 0 {
		return time.Now().Add(d + Grace)
	}
	return time.Now().Add(Cap)
}

// Watch returns the context of a worker's life. It ends when the worker
// must stop: its parent died (the worker was re-parented away from pid
// parent, checked every poll), deadline passed, or SIGTERM or SIGINT
// arrived. A worker still running grace after that is exited with status 0.
// The returned function releases the context and the signal handlers.
func Watch(parent int, deadline time.Time, poll, grace time.Duration) (context.Context, context.CancelFunc) {
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithDeadline(sigCtx, deadline)
	go func() {
		tick := time.NewTicker(poll)
		defer tick.Stop()
		for ctx.Err() == nil && os.Getppid() == parent {
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
		cancel()
		time.Sleep(grace)
		os.Exit(0)
	}()
	return ctx, func() {
		cancel()
		stopSignals()
	}
}

// Proc names one process for its whole life: a pid is reused, a pid and
// its start time are not.
type Proc struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
}

// Find returns the workers of fault id still alive: those in known and
// every process tagged with id (fault.TagEnv=id in its environment), each
// once, in that order, never this process.
func Find(id string, known []Proc) ([]Proc, error) {
	tagged, err := procfs.FindByEnv(fault.TagEnv, id)
	if err != nil {
		return nil, fmt.Errorf("find the workers of fault %s: %w", id, err)
	}
	all := append([]Proc(nil), known...)
	for _, s := range tagged {
		all = append(all, Proc{s.PID, s.StartTime})
	}
	var live []Proc
	seen := map[Proc]bool{}
	for _, p := range all {
		if !seen[p] && p.PID != os.Getpid() && procfs.Alive(p.PID, p.StartTime) {
			seen[p] = true
			live = append(live, p)
		}
	}
	return live, nil
}

// Signal sends sig to p if it is still the same process; it does nothing
// when p is gone. The process handle is taken first (a pidfd on current
// kernels), then its identity is checked, so a pid reused meanwhile is
// never signalled.
func (p Proc) Signal(sig syscall.Signal) error { return p.send(sig, "signal") }

// Kill is Signal(SIGKILL), its failure told as a failure to kill.
func (p Proc) Kill() error { return p.send(syscall.SIGKILL, "kill") }

func (p Proc) send(sig syscall.Signal, verb string) error {
	h, err := os.FindProcess(p.PID)
	if err != nil {
		return fmt.Errorf("find worker pid %d: %w", p.PID, err)
	}
	defer h.Release()
	if !procfs.Alive(p.PID, p.StartTime) {
		return nil // exited already; the pid is not ours any more
	}
	if err := h.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s worker pid %d: %w", verb, p.PID, err)
	}
	return nil
}

// WaitGone checks every poll until none of procs is alive, for at most
// within, and then returns an error "pids N, M still running" naming those
// left (the caller says after what). It ignores ctx's cancellation:
// recovery must finish even then.
func WaitGone(ctx context.Context, procs []Proc, within, poll time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), within)
	defer cancel()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		var left []string
		for _, p := range procs {
			if procfs.Alive(p.PID, p.StartTime) {
				left = append(left, strconv.Itoa(p.PID))
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pids %s still running", strings.Join(left, ", "))
		case <-tick.C:
		}
	}
}
