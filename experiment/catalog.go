package experiment

import (
	"errors"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline/expect"
)

// Catalog tells the decoder which fault and probe kinds exist and how their
// settings are typed. The engine provides one built from the fault and probe
// registries.
type Catalog interface {
	Fault(kind string) (FaultInfo, bool)
	Probe(kind string) (ProbeInfo, bool)
	FaultKinds() []string
	ProbeKinds() []string
}

// FaultInfo is what validation needs to know of a fault kind.
type FaultInfo struct {
	// NewParams returns a pointer to the kind's parameter struct with its
	// defaults set.
	NewParams func() any
	// Targets lists the target types the kind acts on ("process"); empty
	// means it acts on the local host and takes no target.
	Targets []string
	// Reversible is false for faults that cannot be undone (a kill): such
	// steps take no duration unless their parameters ask for one.
	Reversible bool
}

// ProbeInfo is what validation needs to know of a probe kind.
type ProbeInfo struct {
	NewParams func() any
	// Measures names what the probe measures and the type of each, which
	// is what an expect block may judge.
	Measures map[string]expect.Kind
}

// Validator is implemented by parameter structs that check their values.
// Return FieldErrors (joined with errors.Join for several) so each problem
// is reported at its field.
type Validator interface {
	Validate() error
}

// ExpectValidator is implemented by probe settings that decide which
// measures an expect block may judge (an http check measures `value` only
// with a jsonPath). It gets the measures the block names.
type ExpectValidator interface {
	ValidateExpect(measures []string) error
}

// DurationValidator is implemented by fault parameters whose validity
// depends on the step's duration (for example a repeated kill needs one).
type DurationValidator interface {
	ValidateDuration(d time.Duration) error
}

// FieldError is a problem with one field of a parameter struct, named as
// written in the document (camelCase).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// FieldErrorf makes a FieldError.
func FieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// fieldErrors flattens an error tree into its FieldErrors; other errors
// come back with an empty field.
func fieldErrors(err error) []*FieldError {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) && fe == err {
		return []*FieldError{fe}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*FieldError
		for _, e := range j.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
		return out
	}
	if errors.As(err, &fe) {
		return []*FieldError{fe}
	}
	return []*FieldError{{Msg: err.Error()}}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
