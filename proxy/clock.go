package proxy

import (
	"container/heap"
	"encoding/binary"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The clock wakes goroutines at deadlines to within tens of microseconds,
// where Go's timers may be a millisecond late (the netpoller sleeps in
// whole milliseconds). One goroutine, on a thread of its own with a timer
// slack of 1ns, sleeps in ppoll(2) until the next deadline and wakes every
// waiter due at once; an alarm earlier than the one it sleeps for wakes it
// through an eventfd. Waits use it only for their last preciseWindow, so it
// sleeps in a system call only while a deadline is that close, and waits
// on a channel otherwise.
var clock struct {
	start  sync.Once
	efd    int           // eventfd: an earlier alarm while sleeping
	wake   chan struct{} // an alarm for an idle clock
	failed bool          // no eventfd: alarms use Go's timers

	mu     sync.Mutex
	alarms alarms
	target time.Time // the deadline the clock sleeps for; zero when idle
}

type alarm struct {
	at   time.Time
	ring chan struct{}
}

// alarmAt returns a channel closed at t.
func alarmAt(t time.Time) <-chan struct{} {
	clock.start.Do(startClock)
	if clock.failed {
		ring := make(chan struct{})
		time.AfterFunc(time.Until(t), func() { close(ring) })
		return ring
	}
	ring := make(chan struct{})
	clock.mu.Lock()
	heap.Push(&clock.alarms, alarm{at: t, ring: ring})
	idle, earlier := clock.target.IsZero(), t.Before(clock.target)
	clock.mu.Unlock()
	switch {
	case idle:
		select {
		case clock.wake <- struct{}{}:
		default:
		}
	case earlier:
		_, _ = unix.Write(clock.efd, binary.NativeEndian.AppendUint64(nil, 1))
	}
	return ring
}

func startClock() {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		clock.failed = true
		return
	}
	clock.efd, clock.wake = efd, make(chan struct{}, 1)
	go runClock()
}

func runClock() {
	runtime.LockOSThread() // the timer slack is the thread's
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	buf := make([]byte, 8)
	for {
		clock.mu.Lock()
		now := time.Now()
		rang := false
		for len(clock.alarms) > 0 && !clock.alarms[0].at.After(now) {
			close(heap.Pop(&clock.alarms).(alarm).ring)
			rang = true
		}
		clock.target = time.Time{}
		if len(clock.alarms) > 0 {
			clock.target = clock.alarms[0].at
		}
		next := clock.target
		clock.mu.Unlock()
		if rang {
			runtime.Gosched() // let the woken run before sleeping again
		}
		if next.IsZero() {
			<-clock.wake
			continue
		}
		ts := unix.NsecToTimespec(max(int64(time.Until(next)), 0))
		fds := []unix.PollFd{{Fd: int32(clock.efd), Events: unix.POLLIN}}
		if n, _ := unix.Ppoll(fds, &ts, nil); n > 0 {
			_, _ = unix.Read(clock.efd, buf) // EINTR, timeout or an earlier alarm: look again
		}
	}
}

// alarms is a min-heap by time.
type alarms []alarm

func (a alarms) Len() int           { return len(a) }
func (a alarms) Less(i, j int) bool { return a[i].at.Before(a[j].at) }
func (a alarms) Swap(i, j int)      { a[i], a[j] = a[j], a[i] }
func (a *alarms) Push(x any)        { *a = append(*a, x.(alarm)) }
func (a *alarms) Pop() any {
	old := *a
	x := old[len(old)-1]
	*a = old[:len(old)-1]
	return x
}
