// Package faulttest is the conformance suite every fault kind passes.
//
// A kind's test calls Run with a Case that says how to build its parameters,
// how to make a fresh target, and how to observe the fault's real effect on
// the system. Run then checks the contract of package fault: inject then
// recover leaves the system as found; recovering twice does nothing;
// recovery works with a cancelled context, from a record read back from the
// ledger by another process, from the record as written before injection
// (faultline killed mid-inject), and for a fault that was never injected.
//
// Records are built the way the engine builds them: a unique ID, the kind,
// the target, the parameters as JSON and faultline's own identity as owner.
package faulttest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/target"
)

// Case describes one kind with one set of parameters.
type Case struct {
	// Kind is the registered name of the kind under test.
	Kind string
	// Params returns a pointer to the kind's parameter struct, built for
	// one sub-test (it may use t.TempDir). It must pass the struct's
	// Validate, if it has one.
	Params func(t *testing.T) any
	// Target makes a fresh target for one sub-test (spawns a victim
	// process, say) and registers its cleanup with t.Cleanup. Nil means
	// the local host.
	Target func(t *testing.T) target.Target
	// Applied observes whether the fault's effect is in place, by looking
	// at the system itself (the process state, a file, a qdisc), never at
	// the kind's own bookkeeping. It is polled for up to Settle after
	// Inject and Recover return, since signals and the like land
	// asynchronously.
	Applied func(t *testing.T, rec *fault.Record) bool
}

// Settle bounds how long an effect may take to appear after Inject returns
// or to go after Recover returns.
const Settle = 5 * time.Second

// Run runs the conformance suite for c as sub-tests of t.
func Run(t *testing.T, c Case) {
	t.Helper()
	kind, ok := fault.Lookup(c.Kind)
	if !ok {
		t.Fatalf("fault kind %q is not registered (is its package imported?)", c.Kind)
	}
	if !kind.Info().Reversible {
		t.Fatalf("fault kind %s cannot be undone: the conformance suite is for reversible kinds", c.Kind)
	}
	if c.Params == nil || c.Applied == nil {
		t.Fatalf("faulttest.Case for %s needs Params and Applied", c.Kind)
	}
	s := suite{c: c, kind: kind}
	t.Run("InjectThenRecover", s.injectThenRecover)
	t.Run("RecoverTwice", s.recoverTwice)
	t.Run("RecoverWithCancelledContext", s.recoverCancelled)
	t.Run("RecoverFromLedgerJSON", s.recoverFromJSON)
	t.Run("RecoverFromRecordWrittenBeforeInject", s.recoverWithoutState)
	t.Run("RecoverNeverInjected", s.recoverNeverInjected)
}

type suite struct {
	c    Case
	kind fault.Kind
}

func (s suite) injectThenRecover(t *testing.T) {
	rec := s.inject(t)
	s.recover(t, context.Background(), rec)
	s.waitApplied(t, rec, false, "after Recover")
}

func (s suite) recoverTwice(t *testing.T) {
	rec := s.inject(t)
	s.recover(t, context.Background(), rec)
	s.waitApplied(t, rec, false, "after the first Recover")
	s.recover(t, context.Background(), rec)
	s.waitApplied(t, rec, false, "after the second Recover")
}

func (s suite) recoverCancelled(t *testing.T) {
	rec := s.inject(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.recover(t, ctx, rec)
	s.waitApplied(t, rec, false, "after Recover with a cancelled context")
}

// recoverFromJSON recovers from the record as another process reads it from
// the ledger: marshalled after Inject, unmarshalled into a fresh Record.
func (s suite) recoverFromJSON(t *testing.T) {
	rec := s.inject(t)
	s.recover(t, context.Background(), RoundTrip(t, rec))
	s.waitApplied(t, rec, false, "after Recover from the record read back from JSON")
}

// recoverWithoutState recovers from the record as the ledger holds it when
// faultline died during Inject: written before injection, so without the
// state Inject would have added.
func (s suite) recoverWithoutState(t *testing.T) {
	rec := s.newRecord(t)
	before := RoundTrip(t, rec)
	s.injectRecord(t, rec)
	s.recover(t, context.Background(), before)
	s.waitApplied(t, rec, false, "after Recover from the record written before Inject (no state)")
}

// recoverNeverInjected recovers a record whose fault was never applied
// (faultline died between writing the ledger and injecting): it must succeed
// and change nothing.
func (s suite) recoverNeverInjected(t *testing.T) {
	rec := s.newRecord(t)
	if s.c.Applied(t, rec) {
		t.Fatalf("%s: the effect is observed before Recover: the target is not fresh or Applied is wrong", s.c.Kind)
	}
	s.recover(t, context.Background(), rec)
	if s.c.Applied(t, rec) {
		t.Fatalf("%s: Recover of a fault never injected applied it", s.c.Kind)
	}
}

// newRecord builds a record for one sub-test.
func (s suite) newRecord(t *testing.T) *fault.Record {
	t.Helper()
	tgt := target.LocalHost()
	if s.c.Target != nil {
		tgt = s.c.Target(t)
	}
	return NewRecord(t, s.c.Kind, s.c.Params(t), tgt)
}

// NewRecord builds a record the way the engine does, ready for Inject: a
// unique ID, the kind, the target, the parameters (a pointer to the kind's
// parameter struct, which must pass its Validate) as JSON, and this process
// as the owner.
func NewRecord(t *testing.T, kind string, params any, tgt target.Target) *fault.Record {
	t.Helper()
	if v, ok := params.(experiment.Validator); ok {
		if err := v.Validate(); err != nil {
			t.Fatalf("%s: the parameters do not validate: %v", kind, err)
		}
	}
	b, err := json.Marshal(params)
	if err != nil {
		t.Fatalf("%s: marshal parameters: %v", kind, err)
	}
	self, err := procfs.Self()
	if err != nil {
		t.Fatalf("read own identity: %v", err)
	}
	host, _ := os.Hostname()
	return &fault.Record{
		ID:      "faulttest-" + rand.Text(),
		Kind:    kind,
		Target:  tgt,
		Params:  b,
		Owner:   fault.Owner{PID: self.PID, StartTime: self.StartTime, Host: host},
		Created: time.Now(),
	}
}

// inject builds a record and injects it.
func (s suite) inject(t *testing.T) *fault.Record {
	t.Helper()
	rec := s.newRecord(t)
	s.injectRecord(t, rec)
	return rec
}

// injectRecord runs Preflight and Inject, checks the effect appears, and
// registers a best-effort recovery so a failing sub-test leaves nothing
// behind.
func (s suite) injectRecord(t *testing.T, rec *fault.Record) {
	t.Helper()
	ctx := context.Background()
	if s.c.Applied(t, rec) {
		t.Fatalf("%s: the effect is observed before Inject: the target is not fresh or Applied is wrong", s.c.Kind)
	}
	if err := s.kind.Preflight(ctx, rec); err != nil {
		t.Fatalf("%s: Preflight: %v", s.c.Kind, err)
	}
	t.Cleanup(func() { _ = s.kind.Recover(context.Background(), rec) })
	if err := s.kind.Inject(ctx, rec); err != nil {
		t.Fatalf("%s: Inject: %v", s.c.Kind, err)
	}
	s.waitApplied(t, rec, true, "after Inject")
}

func (s suite) recover(t *testing.T, ctx context.Context, rec *fault.Record) {
	t.Helper()
	if err := s.kind.Recover(ctx, rec); err != nil {
		t.Fatalf("%s: Recover: %v", s.c.Kind, err)
	}
}

// waitApplied polls Applied until it reports want or Settle passes.
func (s suite) waitApplied(t *testing.T, rec *fault.Record, want bool, when string) {
	t.Helper()
	deadline := time.Now().Add(Settle)
	for s.c.Applied(t, rec) != want {
		if time.Now().After(deadline) {
			if want {
				t.Fatalf("%s: the effect is not observed %s (waited %s)", s.c.Kind, when, Settle)
			}
			t.Fatalf("%s: the effect is still observed %s (waited %s)", s.c.Kind, when, Settle)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// RoundTrip returns rec as another process reads it from the ledger:
// marshalled to JSON and unmarshalled into a fresh Record.
func RoundTrip(t *testing.T, rec *fault.Record) *fault.Record {
	t.Helper()
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatalf("marshal record: %v", err)
	}
	var out fault.Record
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal record %s: %v", b, err)
	}
	return &out
}

// Fields lists the fields a Validate or ValidateDuration error names, in
// order, for table tests of parameters: the Field of each
// experiment.FieldError in the errors.Join tree, "" for an error tied to no
// field, nil for a nil error.
func Fields(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, Fields(e)...)
		}
		return out
	}
	var fe *experiment.FieldError
	if errors.As(err, &fe) {
		return []string{fe.Field}
	}
	return []string{""}
}
