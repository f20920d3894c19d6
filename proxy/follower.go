package proxy

import (
	"errors"
	"time"
)

// follower tracks the toxics of a proxy's chain that act on one part of a
// link (a direction's bytes, or its HTTP exchanges) and lets the toxics
// acting there wait while seeing changes to the chain.
type follower struct {
	l    *link
	want func(*toxic) bool
	// onChange (optional) runs when refresh sees a new chain.
	onChange func()

	seen   *chain
	active []*toxic // the toxics of seen that want selects and that hit l
	timer  *time.Timer
}

func newFollower(l *link, want func(*toxic) bool) follower {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return follower{l: l, want: want, timer: t}
}

// refresh looks at the proxy's current chain.
func (f *follower) refresh() {
	ch := f.l.p.chain.Load()
	if ch == f.seen {
		return
	}
	f.seen = ch
	// A new slice: callers may still be iterating the previous one.
	f.active = make([]*toxic, 0, len(ch.toxics))
	for _, t := range ch.toxics {
		if f.want(t) && f.l.hit(t) {
			f.active = append(f.active, t)
		}
	}
	if f.onChange != nil {
		f.onChange()
	}
}

// current returns the attributes t has now, and false once t was removed
// or no longer acts here.
func (f *follower) current(t *toxic) (attributes, bool) {
	f.refresh()
	for _, a := range f.active {
		if a.id == t.id {
			return a.attrs, true
		}
	}
	return nil, false
}

// errClosed ends a toxic's work on a closed link.
var errClosed = errors.New("connection closed")

// wait waits until the given time (forever if zero), or until the chain
// changes, which it reports so the caller looks at its toxic again. It
// returns errClosed if the link closes. The last moments are slept
// precisely by the clock (clock.go), without watching the chain.
func (f *follower) wait(until time.Time) (changed bool, err error) {
	for {
		var expired <-chan time.Time
		if !until.IsZero() {
			d := time.Until(until)
			if d <= 0 {
				return false, nil
			}
			if d <= preciseWindow {
				<-alarmAt(until)
				return false, nil
			}
			f.timer.Reset(d - preciseWindow)
			expired = f.timer.C
		}
		select {
		case <-expired:
			continue
		case <-f.seen.changed:
			f.timer.Stop()
			return true, nil
		case <-f.l.done:
			f.timer.Stop()
			return false, errClosed
		}
	}
}

// preciseWindow is how long before a deadline a wait stops relying on Go's
// timers: the runtime's netpoller sleeps in whole milliseconds, so a timer
// in an otherwise idle process fires up to a millisecond late, which a
// 50ms latency toxic must not add. The clock (clock.go) wakes it instead.
const preciseWindow = 1500 * time.Microsecond

// sleep waits until the given time unless t is removed first (or stops
// acting here); it reports whether t is still there.
func (f *follower) sleep(t *toxic, until time.Time) (present bool, err error) {
	for {
		if _, ok := f.current(t); !ok {
			return false, nil
		}
		changed, err := f.wait(until)
		if err != nil || !changed {
			return err == nil, err
		}
	}
}
