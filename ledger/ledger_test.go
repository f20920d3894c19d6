package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/ledger"
	"github.com/faultline-dev/faultline/target"
)

// counted is a fault kind whose recoveries are counted, so tests can see
// "exactly once".
type countedParams struct {
	Fail bool `yaml:"fail" json:"fail"`
}

var recoveries atomic.Int64

func init() {
	fault.Register(fault.Def[countedParams]{
		Name:       "test.counted",
		Reversible: true,
		Inject:     func(context.Context, *countedParams, *fault.Record) error { return nil },
		Recover: func(_ context.Context, p *countedParams, _ *fault.Record) error {
			if p.Fail {
				return fmt.Errorf("boom")
			}
			recoveries.Add(1)
			return nil
		},
	})
}

func record(t *testing.T, id string, fail bool, owner fault.Owner) *fault.Record {
	t.Helper()
	params, _ := json.Marshal(countedParams{Fail: fail})
	return &fault.Record{ID: id, Kind: "test.counted", Target: target.LocalHost(), Params: params, Owner: owner}
}

func ledgerAt(dir string) (*ledger.Ledger, error) {
	return ledger.Open(filepath.Join(dir, "state", "ledger.jsonl"))
}

func open(t *testing.T) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state", "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRecoverExactlyOnceAcrossConcurrentCallers(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	rec := record(t, "f1", false, fault.Owner{PID: 999999})
	if err := l.Begin(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := l.Injected(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// A second handle on the same file stands for another process.
	other, err := ledger.Open(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	before := recoveries.Load()
	var wg sync.WaitGroup
	outcomes := make([]ledger.Outcome, 8)
	for i := range outcomes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := l
			if i%2 == 1 {
				h = other
			}
			o, err := h.Recover(ctx, "f1")
			if err != nil {
				t.Error(err)
			}
			outcomes[i] = o
		}()
	}
	wg.Wait()
	if got := recoveries.Load() - before; got != 1 {
		t.Fatalf("recovered %d times, want exactly once", got)
	}
	now := 0
	for _, o := range outcomes {
		if o == ledger.RecoveredNow {
			now++
		}
	}
	if now != 1 {
		t.Fatalf("outcomes %v: want one %q", outcomes, ledger.RecoveredNow)
	}
	if open, _ := l.Open(ctx); len(open) != 0 {
		t.Fatalf("open faults after recovery: %+v", open)
	}
}

func TestFailedRecoveryStaysOpen(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	if err := l.Begin(ctx, record(t, "bad", true, fault.Owner{PID: 999999})); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Recover(ctx, "bad"); err == nil {
		t.Fatal("recovering a failing fault reported success")
	}
	open, err := l.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].State != ledger.RecoverFailed || open[0].Record == nil {
		t.Fatalf("open = %+v, want the fault open in state recover-failed with its record", open)
	}
}

func TestRecoverAllSkipsFaultsOfLiveOwnersUnlessForced(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	// The test's parent process stands for another running faultline.
	parent, err := procfs.ReadStat(os.Getppid())
	if err != nil {
		t.Fatal(err)
	}
	live := fault.Owner{PID: parent.PID, StartTime: parent.StartTime}
	dead := fault.Owner{PID: 999999, StartTime: 1}
	for _, r := range []*fault.Record{record(t, "a", false, dead), record(t, "b", false, live)} {
		if err := l.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	res, err := l.RecoverAll(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Fault.ID != "b" || res[0].Skipped == "" || res[1].Outcome != ledger.RecoveredNow {
		t.Fatalf("results %+v: want b skipped (newest first), a recovered", res)
	}
	res, err = l.RecoverAll(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != ledger.RecoveredNow {
		t.Fatalf("forced results %+v: want b recovered", res)
	}
	// Running it again finds nothing: recover is safe to repeat.
	if res, _ := l.RecoverAll(ctx, true); len(res) != 0 {
		t.Fatalf("second run recovered %+v", res)
	}
}

func TestTornLastLineIsSkipped(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	if err := l.Begin(ctx, record(t, "whole", false, fault.Owner{PID: 999999})); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(l.Path(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":2,"id":"torn","state":"inj`)
	f.Close()
	open, err := l.Open(ctx)
	if err != nil {
		t.Fatalf("a torn last line must not make the ledger unreadable: %v", err)
	}
	if len(open) != 1 || open[0].ID != "whole" {
		t.Fatalf("open = %+v", open)
	}
	// The next append replaces the torn line instead of gluing onto it.
	if err := l.Begin(ctx, record(t, "next", false, fault.Owner{PID: 999999})); err != nil {
		t.Fatal(err)
	}
	es, err := l.Entries(ctx)
	if err != nil {
		t.Fatalf("ledger unreadable after appending past a torn line: %v", err)
	}
	if len(es) != 2 || es[1].ID != "next" || es[1].Seq != 2 {
		t.Fatalf("entries = %+v", es)
	}
}

func TestCorruptLineInTheMiddleIsAnError(t *testing.T) {
	l := open(t)
	os.WriteFile(l.Path(), []byte("{not json}\n{\"seq\":1,\"id\":\"x\",\"state\":\"recovered\"}\n"), 0o600)
	if _, err := l.Open(context.Background()); err == nil {
		t.Fatal("a corrupt line followed by more entries was accepted")
	}
}

func TestCompactsOnceNothingIsOpen(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	owner := fault.Owner{PID: 999999}
	pad := strings.Repeat("x", 4096)
	for i := 0; i < 80; i++ { // ~80 × 3 × 4 KiB: past the compaction size
		r := record(t, fmt.Sprint("f", i), false, owner)
		r.Step = pad
		if err := l.Begin(ctx, r); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			continue // f0 stays open for a while
		}
		if _, err := l.Recover(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := os.Stat(l.Path()); st.Size() < 256<<10 {
		t.Fatalf("ledger compacted (%d bytes) while f0 was still open", st.Size())
	}
	if _, err := l.Recover(ctx, "f0"); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(l.Path()); st.Size() != 0 {
		t.Errorf("ledger is %d bytes after every fault was recovered", st.Size())
	}
	if st, err := os.Stat(l.Path() + ".1"); err != nil || st.Size() < 256<<10 {
		t.Errorf("history not kept in .1: %v", err)
	}
	// An engine whose fault `recover --force` undid, then compacted away,
	// hears it was already recovered, not that it is unknown.
	if o, err := l.Recover(ctx, "f0"); err != nil || o != ledger.AlreadyRecovered {
		t.Errorf("recovering a compacted fault again: %q, %v", o, err)
	}
}
