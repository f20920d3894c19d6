package stress

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
)

// CPUParams are the parameters of stress.cpu.
type CPUParams struct {
	Workers int                `yaml:"workers" json:"workers,omitempty" doc:"worker processes, each loading one core (default: the number of CPUs here)"`
	Load    experiment.Percent `yaml:"load" json:"load,omitempty" doc:"share of each ~100ms window a worker spins"`
}

// Validate implements experiment.Validator.
func (p *CPUParams) Validate() error {
	var errs []error
	if p.Workers < 1 || p.Workers > maxWorkers {
		errs = append(errs, experiment.FieldErrorf("workers", "%d is out of range: want 1 to %d", p.Workers, maxWorkers))
	}
	if p.Load <= 0 || p.Load > 100 {
		errs = append(errs, experiment.FieldErrorf("load", "%v%% is out of range: want more than 0%% and at most 100%%", float64(p.Load)))
	}
	return errors.Join(errs...)
}

// cpuWindow is the period of a cpu worker's duty cycle.
const cpuWindow = 100 * time.Millisecond

func init() {
	fault.Register(fault.Def[CPUParams]{
		Name:       "stress.cpu",
		Summary:    "Load CPU cores: each worker process spins for a share of every ~100ms window",
		Reversible: true,
		Needs:      []string{"permission to start processes (no root)"},
		Defaults:   func() CPUParams { return CPUParams{Workers: runtime.NumCPU(), Load: 100} },
		Preflight: func(context.Context, *CPUParams, *fault.Record) error {
			return checkExecutable()
		},
		Inject:  cpuInject,
		Recover: recoverWorkers[CPUParams],
	})
}

func cpuInject(ctx context.Context, p *CPUParams, rec *fault.Record) error {
	args := make([]workerArgs, p.Workers)
	for i := range args {
		args[i].Load = float64(p.Load) / 100
	}
	procs, err := startWorkers(ctx, rec, "cpu", args, readyTimeout)
	if err != nil {
		return err
	}
	return rec.SetState(workerState{Workers: procs})
}

// recoverWorkers is the Recover of the kinds whose only effect is their
// workers.
func recoverWorkers[P any](ctx context.Context, _ *P, rec *fault.Record) error {
	var st workerState
	if err := rec.GetState(&st); err != nil {
		return err
	}
	return stopWorkers(ctx, rec.ID, st.Workers)
}

// cpuWork spins for a.Load of every cpuWindow. The share is of CPU time,
// not of wall time, so a worker descheduled by other load still takes its
// share of a core when it can (but never spins past its window).
func cpuWork(ctx context.Context, a workerArgs, ready func()) error {
	busy := time.Duration(a.Load * float64(cpuWindow))
	cpu0, err := processCPU()
	if err != nil {
		return err
	}
	ready()
	x := uint64(1)
	for start := time.Now(); ctx.Err() == nil; {
		for {
			for range 4096 { // a few µs of work between clock reads
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
			}
			cpu, _ := processCPU()
			if cpu-cpu0 >= busy || time.Since(start) >= cpuWindow {
				break
			}
		}
		next := start.Add(cpuWindow)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
			start = next
		} else {
			start = time.Now() // late: start a fresh window
		}
		cpu0, _ = processCPU()
	}
	runtime.KeepAlive(x) // so the compiler keeps the work
	return nil
}

// processCPU is the CPU time the process has used.
func processCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("read the process's CPU time: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}
