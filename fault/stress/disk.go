package stress

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
)

// DiskParams are the parameters of stress.disk.
type DiskParams struct {
	Path    string             `yaml:"path" json:"path,omitempty" required:"true" doc:"absolute path of a directory on the filesystem to fill"`
	Size    experiment.Size    `yaml:"size" json:"size,omitempty" doc:"bytes to take (or give percent)"`
	Percent experiment.Percent `yaml:"percent" json:"percent,omitempty" doc:"fill until the filesystem is this much used, at most 99% (or give size)"`
}

// maxFillPercent is the fullest stress.disk makes a filesystem.
const maxFillPercent = 99

// Validate implements experiment.Validator.
func (p *DiskParams) Validate() error {
	var errs []error
	if err := checkPath(p.Path); err != nil {
		errs = append(errs, err)
	}
	switch {
	case p.Size < 0:
		errs = append(errs, experiment.FieldErrorf("size", "must not be negative"))
	case p.Size > 0 && p.Percent != 0:
		errs = append(errs, experiment.FieldErrorf("percent", "give either size or percent, not both"))
	case p.Size == 0 && p.Percent == 0:
		errs = append(errs, experiment.FieldErrorf("size", "required: give size (bytes to take) or percent (how full to make the filesystem)"))
	case p.Percent < 0 || p.Percent > maxFillPercent:
		errs = append(errs, experiment.FieldErrorf("percent", "%v%% is out of range: want more than 0%% and at most %d%%", float64(p.Percent), maxFillPercent))
	}
	return errors.Join(errs...)
}

// fillPrefix starts the name of the file stress.disk makes; the fault id
// ends it.
const fillPrefix = ".faultline-fill-"

// diskState is the rec.State of stress.disk.
type diskState struct {
	// File is the fill file's path. It is stored before the file is made,
	// and recovery can also compute it from the parameters and the id.
	File string `json:"file"`
}

func init() {
	fault.Register(fault.Def[DiskParams]{
		Name:       "stress.disk",
		Summary:    "Fill a filesystem: one preallocated file takes size bytes, or the space up to percent used",
		Reversible: true,
		Needs:      []string{"write access to path", "the space to take free on its filesystem"},
		Preflight:  diskPreflight,
		Inject:     diskInject,
		Recover:    diskRecover,
	})
}

func diskPreflight(_ context.Context, p *DiskParams, rec *fault.Record) error {
	if err := checkFileID(rec.ID); err != nil {
		return err
	}
	if err := checkDir(p.Path); err != nil {
		return err
	}
	u, err := statUsage(p.Path)
	if err != nil {
		return err
	}
	_, err = fillSize(u, p.Size, p.Percent)
	return err
}

func diskInject(ctx context.Context, p *DiskParams, rec *fault.Record) error {
	if err := checkFileID(rec.ID); err != nil {
		return err
	}
	name := filepath.Join(p.Path, fillPrefix+rec.ID)
	if err := rec.SetState(diskState{File: name}); err != nil {
		return err
	}
	u, err := statUsage(p.Path)
	if err != nil {
		return err
	}
	size, err := fillSize(u, p.Size, p.Percent)
	if err != nil {
		return err
	}
	// O_EXCL: the file is ours alone, so recovery may remove it.
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create fill file: %w", err)
	}
	err = allocate(ctx, f, size)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close fill file %s: %w", name, cerr)
	}
	if err != nil {
		if rerr := os.Remove(name); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the partial fill file: %w", rerr))
		}
		return err
	}
	return nil
}

func diskRecover(_ context.Context, p *DiskParams, rec *fault.Record) error {
	if err := checkFileID(rec.ID); err != nil {
		return err
	}
	name := filepath.Join(p.Path, fillPrefix+rec.ID)
	var st diskState
	if err := rec.GetState(&st); err != nil {
		return err
	}
	if st.File != "" && st.File != name {
		return fmt.Errorf("state of fault %s names fill file %s, but its parameters say %s: not removing either; check and remove it by hand", rec.ID, st.File, name)
	}
	err := os.Remove(name)
	if errors.Is(err, fs.ErrNotExist) {
		// The file is only ever created under this name, which holds the
		// fault's unique id, with O_EXCL, and only Inject (when it fails)
		// and Recover remove it. So a missing file was either never made
		// (faultline stopped before creating it, or creation failed) or
		// already removed by an earlier recovery: either way the space it
		// took is free again and the fault is recovered.
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove fill file: %w", err)
	}
	return nil
}

// fsUsage is a filesystem's space, in bytes, as statfs reports it.
type fsUsage struct {
	Total uint64
	// Free counts the blocks reserved for root; Avail does not.
	Free, Avail uint64
}

// statUsage reads the usage of the filesystem holding path.
func statUsage(path string) (fsUsage, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return fsUsage{}, fmt.Errorf("read the space on the filesystem of %s: %w", path, err)
	}
	bs := uint64(s.Frsize)
	if bs == 0 {
		bs = uint64(s.Bsize)
	}
	return fsUsage{Total: s.Blocks * bs, Free: s.Bfree * bs, Avail: s.Bavail * bs}, nil
}

// usedPercent is the share of the filesystem in use as df shows it: of
// the space ordinary users may have.
func (u fsUsage) usedPercent() float64 {
	used := u.Total - u.Free
	if used+u.Avail == 0 {
		return 0
	}
	return 100 * float64(used) / float64(used+u.Avail)
}

// fillSize computes the bytes to take: size, or what brings the
// filesystem to percent used (as df counts it: used / (used + avail), which
// filling does not change the denominator of).
func fillSize(u fsUsage, size experiment.Size, percent experiment.Percent) (int64, error) {
	if size > 0 {
		if uint64(size) > u.Avail {
			return 0, fmt.Errorf("size %v is more than the %v free on the filesystem", size, experiment.Size(u.Avail))
		}
		return int64(size), nil
	}
	used := u.Total - u.Free
	target := uint64(math.Ceil(float64(percent) / 100 * float64(used+u.Avail)))
	if used >= target {
		return 0, fmt.Errorf("the filesystem is already %.1f%% used, at or above the %v%% asked: nothing to fill", u.usedPercent(), float64(percent))
	}
	return int64(min(target-used, u.Avail)), nil
}

// allocate makes f size bytes long with every block allocated: with
// fallocate, or by writing zeros where the filesystem cannot.
func allocate(ctx context.Context, f *os.File, size int64) error {
	var err error
	for {
		// Go preempts with signals: a long allocation can be interrupted.
		if err = unix.Fallocate(int(f.Fd()), 0, 0, size); err != unix.EINTR {
			break
		}
	}
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("allocate %v for %s: %w", experiment.Size(size), f.Name(), err)
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fill %s: %w", f.Name(), err)
		}
		n, err := f.Write(buf[:min(int64(len(buf)), size-off)])
		if err != nil {
			return fmt.Errorf("fill %s: %w", f.Name(), err)
		}
		off += int64(n)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fill %s: %w", f.Name(), err)
	}
	return nil
}
