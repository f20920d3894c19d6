package stress

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
)

// IOParams are the parameters of stress.io.
type IOParams struct {
	Path      string          `yaml:"path" json:"path,omitempty" required:"true" doc:"absolute path of a directory on the filesystem to load"`
	Workers   int             `yaml:"workers" json:"workers,omitempty" doc:"worker processes, each with its own file"`
	Mode      string          `yaml:"mode" json:"mode,omitempty" doc:"read, write or readwrite"`
	BlockSize experiment.Size `yaml:"blockSize" json:"blockSize,omitempty" doc:"size of each read and write"`
	FileSize  experiment.Size `yaml:"fileSize" json:"fileSize,omitempty" doc:"size of each worker's file"`
}

// maxBlockSize caps blockSize: each worker holds one block in memory.
const maxBlockSize = 64 << 20

// ioRetry is how long a worker waits after a failed pass (a full disk).
const ioRetry = time.Second

// Validate implements experiment.Validator.
func (p *IOParams) Validate() error {
	var errs []error
	if err := checkPath(p.Path); err != nil {
		errs = append(errs, err)
	}
	if p.Workers < 1 || p.Workers > maxWorkers {
		errs = append(errs, experiment.FieldErrorf("workers", "%d is out of range: want 1 to %d", p.Workers, maxWorkers))
	}
	switch p.Mode {
	case "read", "write", "readwrite":
	default:
		errs = append(errs, experiment.FieldErrorf("mode", "unknown mode %q: want read, write or readwrite", p.Mode))
	}
	if p.BlockSize <= 0 || p.BlockSize > maxBlockSize {
		errs = append(errs, experiment.FieldErrorf("blockSize", "%v is out of range: want more than 0 and at most %v", p.BlockSize, experiment.Size(maxBlockSize)))
	}
	if p.FileSize <= 0 {
		errs = append(errs, experiment.FieldErrorf("fileSize", "must be more than 0"))
	} else if p.BlockSize > p.FileSize {
		errs = append(errs, experiment.FieldErrorf("blockSize", "%v is larger than fileSize %v", p.BlockSize, p.FileSize))
	}
	return errors.Join(errs...)
}

// ioPrefix starts the names of stress.io's files; the fault id, a dash and
// the worker's number end them.
const ioPrefix = ".faultline-io-"

func init() {
	fault.Register(fault.Def[IOParams]{
		Name:       "stress.io",
		Summary:    "Load a disk: worker processes write and fsync, and read back, a file each, dropping it from the page cache after every pass",
		Reversible: true,
		Needs: []string{
			"permission to start processes (no root)",
			"write access to path",
			"workers × fileSize free on its filesystem",
		},
		Defaults: func() IOParams {
			return IOParams{Workers: 1, Mode: "readwrite", BlockSize: 1 << 20, FileSize: 64 << 20}
		},
		Preflight: ioPreflight,
		Inject:    ioInject,
		Recover:   ioRecover,
	})
}

func ioPreflight(_ context.Context, p *IOParams, rec *fault.Record) error {
	if err := checkFileID(rec.ID); err != nil {
		return err
	}
	if err := checkExecutable(); err != nil {
		return err
	}
	if err := checkDir(p.Path); err != nil {
		return err
	}
	u, err := statUsage(p.Path)
	if err != nil {
		return err
	}
	if need := uint64(p.Workers) * uint64(p.FileSize); need > u.Avail {
		return fmt.Errorf("%d workers × fileSize %v need %v, more than the %v free in %s: lower workers or fileSize",
			p.Workers, p.FileSize, experiment.Size(need), experiment.Size(u.Avail), p.Path)
	}
	return nil
}

func ioInject(ctx context.Context, p *IOParams, rec *fault.Record) error {
	if err := checkFileID(rec.ID); err != nil {
		return err
	}
	args := make([]workerArgs, p.Workers)
	for n := range args {
		args[n] = workerArgs{
			File:      filepath.Join(p.Path, ioPrefix+rec.ID+"-"+strconv.Itoa(n)),
			Mode:      p.Mode,
			BlockSize: int64(p.BlockSize),
			FileSize:  int64(p.FileSize),
		}
	}
	procs, err := startWorkers(ctx, rec, "io", args, readyTimeout)
	if err != nil {
		return errors.Join(err, removeIOFiles(p.Path, rec.ID))
	}
	return rec.SetState(workerState{Workers: procs})
}

func ioRecover(ctx context.Context, p *IOParams, rec *fault.Record) error {
	if err := checkFileID(rec.ID); err != nil {
		return err
	}
	var st workerState
	if err := rec.GetState(&st); err != nil {
		return err
	}
	// Workers first, so none makes its file again.
	return errors.Join(stopWorkers(ctx, rec.ID, st.Workers), removeIOFiles(p.Path, rec.ID))
}

// removeIOFiles removes the files of fault id's workers from dir: the
// regular files named ioPrefix + id + "-" + a number, and nothing else.
func removeIOFiles(dir, id string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // the directory is gone, and the files in it with it
	}
	if err != nil {
		return fmt.Errorf("list the io files of fault %s: %w", id, err)
	}
	var errs []error
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), ioPrefix+id+"-")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if _, err := strconv.ParseUint(n, 10, 32); err != nil {
			continue // another fault's (its id extends this one's)
		}
		// Not there any more is fine: a worker that stops by itself
		// removes its own file.
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove io file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ioWork writes a.File with fsync and reads it back, over and over, each
// pass in a.BlockSize blocks, dropping the file from the page cache after
// each so the reads reach the device. In read mode the file is written
// once. It removes the file when it stops by itself.
func ioWork(ctx context.Context, a workerArgs, ready func()) error {
	// O_EXCL: never work on, nor later remove, a file that was not ours.
	f, err := os.OpenFile(a.File, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create io file: %w", err)
	}
	defer os.Remove(a.File)
	defer f.Close()
	ready()
	// Random bytes, so no filesystem compresses or deduplicates them away.
	block := make([]byte, a.BlockSize)
	var seed [32]byte
	rand.NewChaCha8(seed).Read(block)
	written := false
	for ctx.Err() == nil {
		var err error
		if a.Mode != "read" || !written {
			if err = ioPass(ctx, f, block, a.FileSize, true); err == nil {
				written = true
			}
		}
		if a.Mode != "write" && written && err == nil {
			err = ioPass(ctx, f, block, a.FileSize, false)
		}
		if err != nil && ctx.Err() == nil {
			// A full disk, say: keep trying until stopped.
			select {
			case <-ctx.Done():
			case <-time.After(ioRetry):
			}
		}
	}
	return nil
}

// ioPass writes (and fsyncs) or reads size bytes of f, in blocks, then
// drops f from the page cache.
func ioPass(ctx context.Context, f *os.File, block []byte, size int64, write bool) error {
	for off := int64(0); off < size && ctx.Err() == nil; {
		b := block[:min(int64(len(block)), size-off)]
		var n int
		var err error
		if write {
			n, err = f.WriteAt(b, off)
		} else {
			n, err = f.ReadAt(b, off)
		}
		if err != nil {
			return fmt.Errorf("io on %s: %w", f.Name(), err)
		}
		off += int64(n)
	}
	if write {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", f.Name(), err)
		}
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("drop %s from the page cache: %w", f.Name(), err)
	}
	return nil
}
