package stress

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
)

func TestFillSize(t *testing.T) {
	const g = 1 << 30
	// 100GiB, 40GiB used, 5GiB reserved for root: df shows 40/95 = 42.1%.
	u := fsUsage{Total: 100 * g, Free: 60 * g, Avail: 55 * g}
	for _, c := range []struct {
		name    string
		u       fsUsage
		size    experiment.Size
		percent experiment.Percent
		want    int64
		err     string
	}{
		{"size", u, 10 * g, 0, 10 * g, ""},
		{"size of all that is free", u, 55 * g, 0, 55 * g, ""},
		{"size above free", u, 55*g + 1, 0, 0, "more than the 55GiB free"},
		// 80% of 95GiB is 76GiB: 36GiB to add to the 40 used.
		{"percent", u, 0, 80, 36 * g, ""},
		// 99% of 95GiB, rounded up to a byte, less the 40GiB used.
		{"percent 99", u, 0, 99, 58035745588, ""},
		{"percent just above", u, 0, 42.2, 96636765, ""},
		{"percent already reached", u, 0, 40, 0, "already 42.1% used, at or above the 40% asked"},
		{"percent exactly reached", fsUsage{Total: 100, Free: 50, Avail: 50}, 0, 50, 0, "already 50.0% used"},
		{"no reserve", fsUsage{Total: 1000, Free: 1000, Avail: 1000}, 0, 25, 250, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := fillSize(c.u, c.size, c.percent)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("fillSize = %d, %v; want an error containing %q", got, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Float rounding may be off by a byte.
			if d := got - c.want; d < -1 || d > 1 {
				t.Errorf("fillSize = %d, want %d", got, c.want)
			}
		})
	}
}

// TestDiskFillPercent fills a real filesystem up to a percentage worth
// about 16MiB more than it holds now.
func TestDiskFillPercent(t *testing.T) {
	const extra = 16 << 20
	dir := t.TempDir()
	u, err := statUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.Avail < 4*extra {
		t.Skipf("only %v free in %s", experiment.Size(u.Avail), dir)
	}
	used := u.Total - u.Free
	pct := experiment.Percent(100 * float64(used+extra) / float64(used+u.Avail))
	rec := &fault.Record{ID: "percent-test", Kind: "stress.disk"}
	p := &DiskParams{Path: dir, Percent: pct}
	if err := diskInject(context.Background(), p, rec); err != nil {
		t.Fatal(err)
	}
	defer diskRecover(context.Background(), p, rec)
	fi, err := os.Stat(filepath.Join(dir, fillPrefix+rec.ID))
	if err != nil {
		t.Fatal(err)
	}
	allocated := fi.Sys().(*syscall.Stat_t).Blocks * 512
	after, err := statUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("asked %.6f%%: filled %.1fMiB (%.1fMiB allocated); now %.6f%% used", float64(pct),
		float64(fi.Size())/(1<<20), float64(allocated)/(1<<20), after.usedPercent())
	// Other processes write to the same filesystem meanwhile: allow 8MiB.
	if d := fi.Size() - extra; d < -8<<20 || d > 8<<20 {
		t.Errorf("filled %v, want about %v", experiment.Size(fi.Size()), experiment.Size(extra))
	}
	if allocated < fi.Size() {
		t.Errorf("only %v of %v allocated", experiment.Size(allocated), experiment.Size(fi.Size()))
	}
	if err := diskRecover(context.Background(), p, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fi.Name()); err == nil {
		t.Error("fill file still there")
	}
}

func TestMemAvailable(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"MemTotal:       24684092 kB\nMemFree:        24339840 kB\nMemAvailable:   24341680 kB\n", 24341680 << 10, false},
		{"MemAvailable: 1 kB", 1024, false},
		{"MemTotal: 5 kB\n", 0, true},
		{"MemAvailable: x kB\n", 0, true},
		{"MemAvailable: 5 MB\n", 0, true},
		{"", 0, true},
	} {
		got, err := memAvailable([]byte(c.in))
		if (err != nil) != c.err || got != c.want {
			t.Errorf("memAvailable(%q) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestCheckFileID(t *testing.T) {
	for id, ok := range map[string]bool{
		"r1-3-fill-disk-0":        true,
		"faulttest-ABC_def.9":     true,
		"":                        false,
		"../../etc":               false,
		"a/b":                     false,
		"a b":                     false,
		"x*":                      false,
		"20260101T000000-ab12-1-": true,
	} {
		if err := checkFileID(id); (err == nil) != ok {
			t.Errorf("checkFileID(%q) = %v, want ok %v", id, err, ok)
		}
	}
}

func TestRemoveIOFiles(t *testing.T) {
	dir := t.TempDir()
	mine := []string{".faultline-io-f1-0", ".faultline-io-f1-12"}
	others := []string{
		".faultline-io-f1-x", ".faultline-io-f1-1-0", ".faultline-io-f1", ".faultline-io-f10-0",
		".faultline-fill-f1", "f1", ".faultline-io-f1-",
	}
	for _, n := range append(append([]string{}, mine...), others...) {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A directory with a matching name is not a worker's file.
	if err := os.Mkdir(filepath.Join(dir, ".faultline-io-f1-7"), 0o700); err != nil {
		t.Fatal(err)
	}
	others = append(others, ".faultline-io-f1-7")
	if err := removeIOFiles(dir, "f1"); err != nil {
		t.Fatal(err)
	}
	for _, n := range mine {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s not removed", n)
		}
	}
	for _, n := range others {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s removed: %v", n, err)
		}
	}
	if err := removeIOFiles(filepath.Join(dir, "gone"), "f1"); err != nil {
		t.Errorf("removeIOFiles in a missing directory: %v", err)
	}
}

// TestWorkerDeadline starts a worker whose deadline is near: it stops by
// itself, and an io worker removes its file.
func TestWorkerDeadline(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), ".faultline-io-deadline-0")
	for kind, a := range map[string]workerArgs{
		"cpu":    {Load: 1},
		"memory": {Size: 1 << 20},
		"io":     {File: file, Mode: "readwrite", BlockSize: 4096, FileSize: 65536},
	} {
		t.Run(kind, func(t *testing.T) {
			a.Parent, a.Deadline = os.Getpid(), time.Now().Add(500*time.Millisecond)
			s, err := spawn(exe, "deadline-"+kind, kind, a)
			if err != nil {
				t.Fatal(err)
			}
			defer stopWorkers(context.Background(), "deadline-"+kind, []proc{s.proc})
			ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			defer cancel()
			if err := s.awaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-s.exited:
				if err != nil {
					t.Errorf("worker ended with %v, want a clean exit", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("worker still running 5s after its deadline")
			}
			if procfs.Alive(s.PID, s.StartTime) {
				t.Error("worker alive after exiting")
			}
			if kind == "io" {
				if _, err := os.Stat(file); !os.IsNotExist(err) {
					t.Errorf("io worker left its file: %v", err)
				}
			}
		})
	}
}

// TestWorkerReportsError: a worker that cannot start says why, and Inject
// reports it.
func TestWorkerReportsError(t *testing.T) {
	dir := t.TempDir()
	taken := filepath.Join(dir, ".faultline-io-taken-0")
	if err := os.WriteFile(taken, []byte("not the worker's"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &fault.Record{ID: "taken", Kind: "stress.io", Duration: experiment.Duration(time.Minute)}
	_, err := startWorkers(context.Background(), rec, "io", []workerArgs{{File: taken, Mode: "write", BlockSize: 1, FileSize: 1}}, readyTimeout)
	if err == nil || !strings.Contains(err.Error(), "file exists") {
		t.Errorf("startWorkers on a taken file = %v, want the worker's error", err)
	}
	if b, _ := os.ReadFile(taken); string(b) != "not the worker's" {
		t.Errorf("the worker touched a file not its own: %q", b)
	}
	if ps, _ := procfs.FindByEnv(fault.TagEnv, rec.ID); len(ps) != 0 {
		t.Errorf("workers left after a failed start: %+v", ps)
	}
	_, err = startWorkers(context.Background(), rec, "nonsense", []workerArgs{{}}, readyTimeout)
	if err == nil || !strings.Contains(err.Error(), `unknown worker kind "nonsense"`) {
		t.Errorf("startWorkers of an unknown kind = %v", err)
	}
}
