// Package fault is the contract every fault kind implements and the registry
// of kinds. Kinds live in sub-packages by layer (fault/process,
// fault/stress, …) and register themselves in init.
//
// A fault's life: the engine builds a Record (kind, target, parameters),
// writes it to the ledger, then calls Inject; later Recover undoes it.
// Recover must work from the Record alone, in a process other than the one
// that injected (after faultline was killed), must be idempotent, and must
// work after the injecting context was cancelled.
package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/internal/registry"
	"github.com/faultline-dev/faultline/target"
)

// Kind is one kind of fault.
type Kind interface {
	Info() Info
	// NewParams returns a pointer to the kind's parameter struct with its
	// defaults set.
	NewParams() any
	// Preflight checks, before anything is injected, that the fault can be
	// applied here to these targets: privileges, kernel features, paths.
	Preflight(ctx context.Context, rec *Record) error
	// Inject applies the fault. It may store what recovery needs to know in
	// rec.State; the engine records the state in the ledger afterwards.
	Inject(ctx context.Context, rec *Record) error
	// Recover undoes the fault. It is idempotent and needs only rec.
	Recover(ctx context.Context, rec *Record) error
}

// Info describes a kind for validation, `faultline faults` and pre-checks.
type Info struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
	// Targets lists the target types the kind acts on; empty means the
	// local host, with no target in the document.
	Targets []target.Type `json:"targets,omitempty"`
	// Reversible is false for faults that cannot be undone, such as a kill.
	Reversible bool `json:"reversible"`
	// Needs says what the kind requires of the machine, for humans.
	Needs []string `json:"needs,omitempty"`
	// Params documents the parameters (filled in by Register).
	Params []ParamDoc `json:"params,omitempty"`
}

// Record is everything needed to recover one fault on one target. It is
// written to the ledger before the fault is applied.
type Record struct {
	// ID is unique across runs and made of letters, digits, '-', '_' and
	// '.', so kinds may use it in file names.
	ID     string          `json:"id"`
	Kind   string          `json:"kind"`
	Target target.Target   `json:"target"`
	Params json.RawMessage `json:"params"`
	// State is what Inject learned that recovery needs (a file it made,
	// the pid of a worker it started).
	State json.RawMessage `json:"state,omitempty"`
	// Duration is how long the fault was meant to last (0: until the end of
	// the method).
	Duration   experiment.Duration `json:"duration,omitempty"`
	Experiment string              `json:"experiment,omitempty"`
	Run        string              `json:"run,omitempty"`
	Step       string              `json:"step,omitempty"`
	Owner      Owner               `json:"owner"`
	Created    time.Time           `json:"created"`
}

// Owner is the faultline process that injected a fault.
type Owner struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
	Host      string `json:"host,omitempty"`
}

// DecodeParams decodes the record's parameters into p.
func (r *Record) DecodeParams(p any) error {
	if err := json.Unmarshal(r.Params, p); err != nil {
		return fmt.Errorf("decode %s parameters of fault %s: %w", r.Kind, r.ID, err)
	}
	return nil
}

// SetState stores v as the record's state.
func (r *Record) SetState(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state of fault %s: %w", r.ID, err)
	}
	r.State = b
	return nil
}

// GetState decodes the record's state into v; an empty state leaves v as is.
func (r *Record) GetState(v any) error {
	if len(r.State) == 0 || string(r.State) == "null" {
		return nil
	}
	if err := json.Unmarshal(r.State, v); err != nil {
		return fmt.Errorf("decode state of fault %s: %w", r.ID, err)
	}
	return nil
}

// TagEnv is the environment variable faultline sets on every process a
// fault starts (stress workers, commands), holding the fault's id, so
// recovery can find and stop them from the record alone.
const TagEnv = "FAULTLINE_FAULT_ID"

var kinds = registry.New[Kind]("fault kind")

// RegisterKind adds a kind; registering a name twice panics.
func RegisterKind(k Kind) { kinds.Add(k.Info().Name, k) }

// Lookup returns the kind called name.
func Lookup(name string) (Kind, bool) { return kinds.Lookup(name) }

// Names lists the registered kinds in order.
func Names() []string { return kinds.Names() }

// Def defines a kind whose parameters are P. Register turns it into a Kind,
// so a kind's file holds only its parameters and its three functions.
type Def[P any] struct {
	Name       string
	Summary    string
	Targets    []target.Type
	Reversible bool
	Needs      []string
	// Defaults returns the parameters before the document's are applied.
	Defaults func() P
	// Preflight (optional) checks the machine can take the fault.
	Preflight func(ctx context.Context, p *P, rec *Record) error
	Inject    func(ctx context.Context, p *P, rec *Record) error
	Recover   func(ctx context.Context, p *P, rec *Record) error
}

// Register registers d as a kind.
func Register[P any](d Def[P]) {
	if d.Inject == nil || d.Recover == nil {
		panic("fault: kind " + d.Name + " needs Inject and Recover")
	}
	RegisterKind(&defKind[P]{d})
}

type defKind[P any] struct{ d Def[P] }

func (k *defKind[P]) Info() Info {
	return Info{
		Name: k.d.Name, Summary: k.d.Summary, Targets: slices.Clone(k.d.Targets),
		Reversible: k.d.Reversible, Needs: slices.Clone(k.d.Needs),
		Params: ParamDocs(k.NewParams()),
	}
}

func (k *defKind[P]) NewParams() any {
	p := new(P)
	if k.d.Defaults != nil {
		*p = k.d.Defaults()
	}
	return p
}

func (k *defKind[P]) params(rec *Record) (*P, error) {
	p := k.NewParams().(*P)
	if err := rec.DecodeParams(p); err != nil {
		return nil, err
	}
	return p, nil
}

func (k *defKind[P]) Preflight(ctx context.Context, rec *Record) error {
	if k.d.Preflight == nil {
		return nil
	}
	p, err := k.params(rec)
	if err != nil {
		return err
	}
	return k.d.Preflight(ctx, p, rec)
}

func (k *defKind[P]) Inject(ctx context.Context, rec *Record) error {
	p, err := k.params(rec)
	if err != nil {
		return err
	}
	return k.d.Inject(ctx, p, rec)
}

func (k *defKind[P]) Recover(ctx context.Context, rec *Record) error {
	p, err := k.params(rec)
	if err != nil {
		return err
	}
	return k.d.Recover(ctx, p, rec)
}
