// Package stress holds the resource faults that act on the local host:
// stress.cpu, stress.memory, stress.disk and stress.io. None needs root.
//
// The cpu, memory and io kinds run their load in worker processes: the
// running binary re-executed with FAULTLINE_STRESS_WORKER set, so the
// engine's own measurements are not disturbed and the load ends with
// faultline even when faultline is killed (a worker exits when its parent
// dies or its deadline passes). A binary that registers these kinds calls
// RunWorkerIfRequested first thing in main (the package's init does too,
// as a safety net). Every worker carries
// fault.TagEnv=<fault id> in its environment, so recovery finds the workers
// from the record alone, even those whose pids never reached the ledger.
//
// The files the kinds create are named after the fault id
// (.faultline-fill-<id>, .faultline-io-<id>-<n>), so recovery knows them
// without any state, and it never removes anything else.
package stress

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
)

// maxWorkers caps the worker processes of one fault.
const maxWorkers = 1024

// stopTimeout bounds the wait for killed workers to exit (one stuck in an
// fsync can take a while).
const stopTimeout = 10 * time.Second

// proc names one process for its whole life.
type proc struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
}

// workerState is the rec.State of the kinds that run workers.
type workerState struct {
	Workers []proc `json:"workers,omitempty"`
}

// stopWorkers kills the workers of fault id, those listed in known and
// every process tagged with id, and waits (bounded, even when ctx is
// cancelled) until they are gone.
func stopWorkers(ctx context.Context, id string, known []proc) error {
	tagged, err := procfs.FindByEnv(fault.TagEnv, id)
	if err != nil {
		return fmt.Errorf("find the workers of fault %s: %w", id, err)
	}
	seen := map[proc]bool{}
	var all []proc
	for _, p := range known {
		if !seen[p] && p.PID != os.Getpid() {
			seen[p] = true
			all = append(all, p)
		}
	}
	for _, s := range tagged {
		if p := (proc{s.PID, s.StartTime}); !seen[p] && p.PID != os.Getpid() {
			seen[p] = true
			all = append(all, p)
		}
	}
	var errs []error
	for _, p := range all {
		if err := p.kill(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := waitGone(ctx, all); err != nil {
		errs = append(errs, fmt.Errorf("stop the workers of fault %s: %w", id, err))
	}
	return errors.Join(errs...)
}

// kill sends SIGKILL to p if it is still the same process. The process
// handle is taken first (a pidfd on current kernels), then its identity is
// checked, so a pid reused meanwhile is never signalled.
func (p proc) kill() error {
	h, err := os.FindProcess(p.PID)
	if err != nil {
		return fmt.Errorf("find worker pid %d: %w", p.PID, err)
	}
	defer h.Release()
	if !procfs.Alive(p.PID, p.StartTime) {
		return nil // exited already; the pid is not ours any more
	}
	if err := h.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill worker pid %d: %w", p.PID, err)
	}
	return nil
}

// waitGone polls until none of procs is alive, for at most stopTimeout. It
// ignores ctx's cancellation: recovery must finish even then.
func waitGone(ctx context.Context, procs []proc) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
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
			return fmt.Errorf("pids %s still running %v after SIGKILL", strings.Join(left, ", "), stopTimeout)
		case <-tick.C:
		}
	}
}

// checkFileID refuses a fault id that cannot be part of a file name: it is
// joined to a directory, and must not lead out of it.
func checkFileID(id string) error {
	if id == "" {
		return errors.New("the fault has no id to name its files after")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("fault id %q cannot name a file: it may hold only letters, digits, '-', '_' and '.'", id)
		}
	}
	return nil
}

// checkPath is the validation of a `path` parameter: recovery may run in
// another process, from another directory, so it must be absolute.
func checkPath(path string) error {
	switch {
	case path == "":
		return experiment.FieldErrorf("path", "required: the directory to work in")
	case !filepath.IsAbs(path):
		return experiment.FieldErrorf("path", "%q is relative: write an absolute path (recovery may run from another directory)", path)
	}
	return nil
}

// checkDir checks that dir is a directory this process can write in.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist: create it or choose another path", dir)
	case err != nil:
		return fmt.Errorf("check directory %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	return nil
}

// checkExecutable checks the running binary can be started again as a
// worker (it may have been replaced or deleted by an upgrade).
func checkExecutable() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the running binary to start workers: %w", err)
	}
	if _, err := os.Stat(exe); err != nil {
		return fmt.Errorf("the running binary cannot be started again as a worker: %w", err)
	}
	return nil
}
