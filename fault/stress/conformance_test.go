package stress_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/faulttest"
	"github.com/faultline-dev/faultline/fault/stress"
)

// TestConformance runs the suite every kind passes: inject then recover
// leaves the host as found, recovering twice is a no-op, and recovery works
// with a cancelled context, from the record read back from JSON, from the
// record as written before Inject (faultline killed mid-inject: no state)
// and for a fault never injected.
func TestConformance(t *testing.T) {
	hasWorkers := func(t *testing.T, rec *fault.Record) bool { return len(workers(t, rec.ID)) > 0 }
	for _, c := range []faulttest.Case{{
		Kind:    "stress.cpu",
		Params:  func(*testing.T) any { return &stress.CPUParams{Workers: 2, Load: 10} },
		Applied: hasWorkers,
	}, {
		Kind:    "stress.memory",
		Params:  func(*testing.T) any { return &stress.MemoryParams{Size: 16 << 20} },
		Applied: hasWorkers,
	}, {
		Kind:   "stress.disk",
		Params: func(t *testing.T) any { return &stress.DiskParams{Path: t.TempDir(), Size: 4 << 20} },
		Applied: func(t *testing.T, rec *fault.Record) bool {
			var p stress.DiskParams
			if err := rec.DecodeParams(&p); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(filepath.Join(p.Path, ".faultline-fill-"+rec.ID))
			return err == nil
		},
	}, {
		Kind: "stress.io",
		Params: func(t *testing.T) any {
			return &stress.IOParams{Path: t.TempDir(), Workers: 2, Mode: "readwrite", BlockSize: 64 << 10, FileSize: 1 << 20}
		},
		Applied: func(t *testing.T, rec *fault.Record) bool {
			return hasWorkers(t, rec) || len(ioFiles(t, rec)) > 0
		},
	}} {
		t.Run(c.Kind, func(t *testing.T) { faulttest.Run(t, c) })
	}
}

// ioFiles lists the files of an io fault's workers in its directory.
func ioFiles(t *testing.T, rec *fault.Record) []string {
	t.Helper()
	var p stress.IOParams
	if err := rec.DecodeParams(&p); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(p.Path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), ".faultline-io-"+rec.ID+"-")
		if _, err := strconv.Atoi(n); ok && err == nil {
			names = append(names, filepath.Join(p.Path, e.Name()))
		}
	}
	return names
}
