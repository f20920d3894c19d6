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
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/internal/worker"
)

// maxWorkers caps the worker processes of one fault.
const maxWorkers = 1024

// stopTimeout bounds the wait for killed workers to exit (one stuck in an
// fsync can take a while).
const stopTimeout = 10 * time.Second

// stopPoll is how often stopWorkers checks whether killed workers are gone.
const stopPoll = 20 * time.Millisecond

// proc names one process for its whole life.
type proc = worker.Proc

// workerState is the rec.State of the kinds that run workers.
type workerState struct {
	Workers []proc `json:"workers,omitempty"`
}

// stopWorkers kills the workers of fault id, those listed in known and
// every process tagged with id, and waits (bounded, even when ctx is
// cancelled) until they are gone.
func stopWorkers(ctx context.Context, id string, known []proc) error {
	live, err := worker.Find(id, known)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range live {
		if err := p.Kill(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := worker.WaitGone(ctx, live, stopTimeout, stopPoll); err != nil {
		errs = append(errs, fmt.Errorf("stop the workers of fault %s: %w %v after SIGKILL", id, err, stopTimeout))
	}
	return errors.Join(errs...)
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
