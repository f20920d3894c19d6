package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/faultline-dev/faultline/fault"
)

// BenchmarkFaultLifecycle is the ledger's cost per fault: the fsynced
// injecting and injected records, and the locked recovery with its record.
func BenchmarkFaultLifecycle(b *testing.B) {
	ctx := context.Background()
	l, err := ledgerAt(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	owner := fault.Owner{PID: 999999}
	for i := 0; b.Loop(); i++ {
		params := []byte(`{"fail":false}`)
		rec := &fault.Record{ID: fmt.Sprint("f", i), Kind: "test.counted", Params: params, Owner: owner}
		if err := l.Begin(ctx, rec); err != nil {
			b.Fatal(err)
		}
		if err := l.Injected(ctx, rec); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Recover(ctx, rec.ID); err != nil {
			b.Fatal(err)
		}
	}
}
