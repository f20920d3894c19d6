package stress_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/fault/stress"
)

func TestIOWorkers(t *testing.T) {
	const fileSize = 4 << 20
	for _, c := range []struct {
		mode    string
		workers int
		// counters of /proc/PID/io that must grow
		grow []string
	}{
		{"write", 1, []string{"wchar"}},
		{"read", 1, []string{"rchar"}},
		{"readwrite", 2, []string{"wchar", "rchar"}},
	} {
		t.Run(c.mode, func(t *testing.T) {
			dir := t.TempDir()
			decoys(t, dir, "keep.txt")
			rec := newRecord(t, "stress.io", &stress.IOParams{
				Path: dir, Workers: c.workers, Mode: c.mode, BlockSize: 256 << 10, FileSize: fileSize,
			}, time.Minute)
			others := []string{".faultline-io-" + rec.ID + "-x", ".faultline-io-" + rec.ID + "-1-0"}
			decoys(t, dir, others...)
			inject(t, rec)
			pids := workerPIDs(t, rec.ID, c.workers)

			eventually(t, 10*time.Second, "every io file reaches fileSize", func() bool {
				files := ioFiles(t, rec)
				for _, f := range files {
					if fi, err := os.Stat(f); err != nil || fi.Size() < fileSize {
						return false
					}
				}
				return len(files) == c.workers
			})
			for _, pid := range pids {
				io0 := procKV(t, fmt.Sprintf("/proc/%d/io", pid))
				for _, k := range c.grow {
					eventually(t, 10*time.Second, "worker "+k+" grows", func() bool {
						return procKV(t, fmt.Sprintf("/proc/%d/io", pid))[k] > io0[k]+fileSize/2
					})
				}
				io1 := procKV(t, fmt.Sprintf("/proc/%d/io", pid))
				t.Logf("%s worker pid %d: wchar %s, rchar %s, write_bytes %s, read_bytes %s", c.mode, pid,
					mib(io1["wchar"]), mib(io1["rchar"]), mib(io1["write_bytes"]), mib(io1["read_bytes"]))
			}

			recoverRec(t, context.Background(), rec)
			noWorkers(t, rec.ID)
			if files := ioFiles(t, rec); len(files) != 0 {
				t.Errorf("io files left after Recover: %v", files)
			}
			decoysKept(t, dir, append(others, "keep.txt")...)
		})
	}
}
