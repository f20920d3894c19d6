// Package registry is a named set of kinds (fault kinds, probe kinds) that
// packages fill from init functions and the engine reads.
package registry

import (
	"slices"
	"sync"
)

// Registry maps names to kinds; it is safe for concurrent use.
type Registry[T any] struct {
	what string
	mu   sync.RWMutex
	m    map[string]T
}

// New makes an empty registry; what names its kinds in panics.
func New[T any](what string) *Registry[T] {
	return &Registry[T]{what: what, m: map[string]T{}}
}

// Add registers k under name; registering a name twice is a programming
// error and panics.
func (r *Registry[T]) Add(name string, k T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic(r.what + " registered twice: " + name)
	}
	r.m[name] = k
}

// Lookup returns the kind called name.
func (r *Registry[T]) Lookup(name string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.m[name]
	return k, ok
}

// Names lists the registered names in order.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
