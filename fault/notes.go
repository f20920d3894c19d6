package fault

import (
	"context"
	"fmt"
)

type notesKey struct{}

// WithNotes returns a context whose faults report what they do while in
// place (a repeated kill hitting a restarted process) to fn. The engine
// journals these notes.
func WithNotes(ctx context.Context, fn func(msg string)) context.Context {
	return context.WithValue(ctx, notesKey{}, fn)
}

// Notef reports activity of a fault in place; without WithNotes it does
// nothing.
func Notef(ctx context.Context, format string, args ...any) {
	if fn, ok := ctx.Value(notesKey{}).(func(string)); ok {
		fn(fmt.Sprintf(format, args...))
	}
}
