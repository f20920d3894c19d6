package stress

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
)

// MemoryParams are the parameters of stress.memory.
type MemoryParams struct {
	Size  experiment.Size     `yaml:"size" json:"size,omitempty" required:"true" doc:"memory to hold resident, such as 512MiB"`
	Ramp  experiment.Duration `yaml:"ramp" json:"ramp,omitempty" doc:"grow linearly to size over this time (default: at once)"`
	Force bool                `yaml:"force" json:"force,omitempty" doc:"allow a size above 90% of the available memory"`
}

// Validate implements experiment.Validator.
func (p *MemoryParams) Validate() error {
	if p.Size <= 0 {
		return experiment.FieldErrorf("size", "required: how much memory to hold, such as 512MiB")
	}
	return nil
}

// ValidateDuration implements experiment.DurationValidator: a ramp longer
// than the step would never reach its size.
func (p *MemoryParams) ValidateDuration(d time.Duration) error {
	if d > 0 && p.Ramp.D() > d {
		return experiment.FieldErrorf("ramp", "%v is longer than the step's duration %v: size would never be reached", p.Ramp, d)
	}
	return nil
}

// memoryShare is the share of MemAvailable a size may take without force.
const memoryShare = 0.9

// rampTick is how often a ramping memory worker grows.
const rampTick = 50 * time.Millisecond

func init() {
	fault.Register(fault.Def[MemoryParams]{
		Name:       "stress.memory",
		Summary:    "Hold memory: a worker process keeps size bytes resident, optionally growing to them over a ramp",
		Reversible: true,
		Needs: []string{
			"permission to start processes (no root)",
			"size within 90% of MemAvailable (/proc/meminfo), unless force",
		},
		Preflight: func(_ context.Context, p *MemoryParams, _ *fault.Record) error {
			if err := checkExecutable(); err != nil {
				return err
			}
			return p.checkAvailable()
		},
		Inject:  memoryInject,
		Recover: recoverWorkers[MemoryParams],
	})
}

func memoryInject(ctx context.Context, p *MemoryParams, rec *fault.Record) error {
	// Checked again: memory may have been taken since the preflight.
	if err := p.checkAvailable(); err != nil {
		return err
	}
	// Making pages resident takes time: about 2s per GiB on a slow host.
	timeout := readyTimeout + time.Duration(p.Size>>30)*2*time.Second
	args := []workerArgs{{Size: int64(p.Size), Ramp: p.Ramp.D()}}
	procs, err := startWorkers(ctx, rec, "memory", args, timeout)
	if err != nil {
		return err
	}
	return rec.SetState(workerState{Workers: procs})
}

// checkAvailable refuses, unless p.Force, a size above memoryShare of
// MemAvailable.
func (p *MemoryParams) checkAvailable() error {
	if p.Force {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(procfs.Root, "meminfo"))
	if err != nil {
		return fmt.Errorf("read available memory: %w", err)
	}
	avail, err := memAvailable(b)
	if err != nil {
		return err
	}
	if limit := int64(memoryShare * float64(avail)); int64(p.Size) > limit {
		return fmt.Errorf("size %v is above %v%% of the available memory (%v): lower it, or set force: true to take it anyway",
			p.Size, memoryShare*100, experiment.Size(avail))
	}
	return nil
}

// memAvailable reads MemAvailable, in bytes, from /proc/meminfo's text.
func memAvailable(meminfo []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("parse /proc/meminfo: bad MemAvailable line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/meminfo: %w", err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("parse /proc/meminfo: no MemAvailable line (Linux 3.14 or later has one)")
}

// memoryWork maps a.Size bytes and writes to every page, so each is
// resident: at once, or linearly over a.Ramp.
func memoryWork(ctx context.Context, a workerArgs, ready func()) error {
	// Should the host run out, this worker is the one to go, not a service.
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0)
	mem, err := unix.Mmap(-1, 0, int(a.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("map %v of memory: %w", experiment.Size(a.Size), err)
	}
	page := os.Getpagesize()
	touch := func(from, to int) {
		for off := from; off < to; off += page {
			mem[off] = 1
		}
	}
	if a.Ramp <= 0 {
		touch(0, len(mem))
		ready()
		<-ctx.Done()
		return nil
	}
	ready()
	tick := time.NewTicker(rampTick)
	defer tick.Stop()
	start, done := time.Now(), 0
	for done < len(mem) {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		share := min(1, float64(time.Since(start))/float64(a.Ramp))
		to := min(len(mem), (int(share*float64(len(mem)))+page-1)/page*page)
		touch(done, to)
		done = max(done, to)
	}
	<-ctx.Done()
	return nil
}
