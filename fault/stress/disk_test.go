package stress_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/stress"
)

func TestDiskFillSize(t *testing.T) {
	const size = 8 << 20
	dir := t.TempDir()
	rec := newRecord(t, "stress.disk", &stress.DiskParams{Path: dir, Size: size}, 0)
	others := []string{"keep.txt", ".faultline-fill-other", ".faultline-fill-" + rec.ID + "0", ".faultline-io-" + rec.ID + "-x"}
	decoys(t, dir, others...)
	inject(t, rec)

	name := filepath.Join(dir, ".faultline-fill-"+rec.ID)
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatalf("no fill file: %v", err)
	}
	allocated := fi.Sys().(*syscall.Stat_t).Blocks * 512
	t.Logf("fill file: size %v, allocated %v", experiment.Size(fi.Size()), experiment.Size(allocated))
	if fi.Size() != size || allocated < size {
		t.Errorf("fill file has size %v and %v allocated, want %v of both", experiment.Size(fi.Size()), experiment.Size(allocated), experiment.Size(size))
	}
	var st struct{ File string }
	if err := json.Unmarshal(rec.State, &st); err != nil || st.File != name {
		t.Errorf("state %s, want the fill file %s (err %v)", rec.State, name, err)
	}

	recoverRec(t, context.Background(), rec)
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("fill file still there after Recover: %v", err)
	}
	decoysKept(t, dir, others...)
}

func TestDiskPreflightRefuses(t *testing.T) {
	dir := t.TempDir()
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		t.Fatal(err)
	}
	used := float64(s.Blocks-s.Bfree) / float64(s.Blocks-s.Bfree+s.Bavail) * 100
	avail := int64(s.Bavail) * s.Frsize
	k, _ := fault.Lookup("stress.disk")
	for _, c := range []struct {
		name string
		p    stress.DiskParams
		want string
	}{
		{"more than is free", stress.DiskParams{Path: dir, Size: experiment.Size(avail + 1<<30)}, "free on the filesystem"},
		{"already fuller", stress.DiskParams{Path: dir, Percent: experiment.Percent(used / 2)}, "already"},
		{"no directory", stress.DiskParams{Path: filepath.Join(dir, "nope"), Size: 1}, "does not exist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.want == "already" && used < 2 {
				t.Skipf("the filesystem of %s is only %.1f%% used", dir, used)
			}
			rec := newRecord(t, "stress.disk", &c.p, 0)
			err := k.Preflight(context.Background(), rec)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Preflight = %v, want an error saying %q", err, c.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("Preflight left %d entries in %s", len(ents), dir)
			}
		})
	}
}

// TestDiskRecoverRefusesForeignState: a state naming another file than the
// one the parameters and id name is not acted on.
func TestDiskRecoverRefusesForeignState(t *testing.T) {
	dir := t.TempDir()
	decoys(t, dir, "precious")
	rec := newRecord(t, "stress.disk", &stress.DiskParams{Path: dir, Size: 1 << 20}, 0)
	rec.State = json.RawMessage(`{"file":"` + filepath.Join(dir, "precious") + `"}`)
	k, _ := fault.Lookup("stress.disk")
	if err := k.Recover(context.Background(), rec); err == nil {
		t.Error("Recover with a state naming another file succeeded")
	}
	decoysKept(t, dir, "precious")
}
