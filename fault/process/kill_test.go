package process_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault/faulttest"
	"github.com/faultline-dev/faultline/fault/process"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/target"
)

func TestKillSignals(t *testing.T) {
	kind := lookup(t, "process.kill")
	defaults := kind.NewParams().(*process.KillParams)
	tests := []struct {
		signal string
		want   syscall.Signal
	}{
		{defaults.Signal, syscall.SIGKILL},
		{"KILL", syscall.SIGKILL},
		{"9", syscall.SIGKILL},
		{"SIGTERM", syscall.SIGTERM},
		{"term", syscall.SIGTERM},
		{"15", syscall.SIGTERM},
		{"SIGINT", syscall.SIGINT},
	}
	for _, tt := range tests {
		t.Run(tt.signal, func(t *testing.T) {
			v := faulttest.StartVictim(t, faulttest.Sleeper()...)
			rec := faulttest.NewRecord(t, "process.kill", &process.KillParams{Signal: tt.signal}, v.Target)
			if err := kind.Preflight(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			if err := kind.Inject(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			if got := v.WaitSignal(t, 5*time.Second); got != tt.want {
				t.Errorf("victim ended by %v, want %v", got, tt.want)
			}
			// Nothing to undo: Recover succeeds, as often as asked.
			for range 2 {
				if err := kind.Recover(context.Background(), faulttest.RoundTrip(t, rec)); err != nil {
					t.Errorf("Recover: %v", err)
				}
			}
		})
	}
}

func TestKillTargetGoneOrReused(t *testing.T) {
	kind := lookup(t, "process.kill")
	exited := faulttest.StartVictim(t, faulttest.Sleeper()...)
	_ = exited.Cmd.Process.Kill()
	exited.WaitSignal(t, 5*time.Second)

	alive := faulttest.StartVictim(t, faulttest.Sleeper()...)
	reused := alive.Target
	reused.StartTime++ // the same pid, another process

	for name, tgt := range map[string]target.Target{"exited": exited.Target, "pid reused": reused} {
		t.Run(name, func(t *testing.T) {
			rec := faulttest.NewRecord(t, "process.kill", &process.KillParams{Signal: "KILL"}, tgt)
			if err := kind.Preflight(context.Background(), rec); !errors.Is(err, procfs.ErrGone) {
				t.Errorf("Preflight: got %v, want procfs.ErrGone", err)
			}
			err := kind.Inject(context.Background(), rec)
			if !errors.Is(err, procfs.ErrGone) || !strings.Contains(err.Error(), "exited after it was selected") {
				t.Errorf("Inject: got %v, want an error saying the process exited", err)
			}
		})
	}
	if !alive.Target.Alive() {
		t.Errorf("the process now holding the pid was killed")
	}
}

// TestKillIntervalKillsRestartedService kills a supervised process every
// 300ms: each restarted successor (same command line, same user) dies too,
// until Recover.
func TestKillIntervalKillsRestartedService(t *testing.T) {
	const interval = 300 * time.Millisecond
	kind := lookup(t, "process.kill")
	sup := supervise(t, faulttest.Sleeper())
	first, err := target.FromPID(sup.firstPID(t))
	if err != nil {
		t.Fatal(err)
	}
	p := &process.KillParams{Signal: "SIGKILL", Interval: experiment.Duration(interval)}
	if err := p.ValidateDuration(time.Minute); err != nil {
		t.Fatal(err)
	}
	rec := faulttest.NewRecord(t, "process.kill", p, first)
	rec.Duration = experiment.Duration(time.Minute)
	if err := kind.Inject(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kind.Recover(context.Background(), rec) })

	// The first kill at once, then at least two successors within 1.2s.
	deadline := time.Now().Add(4 * interval)
	for sup.killed() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d kills in %s with interval %s, want at least 3", sup.killed(), 4*interval, interval)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// With a cancelled context, from the record as read back: the loop is
	// found by the fault's id.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := kind.Recover(ctx, faulttest.RoundTrip(t, rec)); err != nil {
		t.Fatal(err)
	}
	recovered := time.Now()
	// A kill is an absence to observe: give the loop three intervals to
	// show it stopped. Kills sent before Recover returned may still be
	// reaped now; no instance started after it may die.
	time.Sleep(3 * interval)
	later := sup.startedAfter(recovered)
	if len(later) > 1 {
		t.Fatalf("%d instances started after Recover, want at most 1: kills went on", len(later))
	}
	for _, in := range later {
		if in.ended {
			t.Fatalf("instance pid %d started after Recover and was ended by %v", in.pid, in.signal)
		}
	}
	if !sup.running() {
		t.Fatal("no instance runs three intervals after Recover")
	}
}

func TestKillValidate(t *testing.T) {
	tests := []struct {
		name   string
		params process.KillParams
		fields []string // fields with errors, nil for valid
		msg    string
	}{
		{"default", process.KillParams{Signal: "SIGKILL"}, nil, ""},
		{"short name", process.KillParams{Signal: "KILL"}, nil, ""},
		{"lower case", process.KillParams{Signal: "term"}, nil, ""},
		{"number", process.KillParams{Signal: "9"}, nil, ""},
		{"with interval", process.KillParams{Signal: "TERM", Interval: experiment.Duration(time.Second)}, nil, ""},
		{"unknown name", process.KillParams{Signal: "SIGFOO"}, []string{"signal"}, "unknown signal"},
		{"empty", process.KillParams{Signal: ""}, []string{"signal"}, "unknown signal"},
		{"zero", process.KillParams{Signal: "0"}, []string{"signal"}, "between 1 and 64"},
		{"too big", process.KillParams{Signal: "65"}, []string{"signal"}, "between 1 and 64"},
		{"stop", process.KillParams{Signal: "STOP"}, []string{"signal"}, "process.pause"},
		{"terminal stop", process.KillParams{Signal: "SIGTSTP"}, []string{"signal"}, "process.pause"},
		{"busy loop", process.KillParams{Signal: "KILL", Interval: experiment.Duration(time.Millisecond)}, []string{"interval"}, "too short"},
		{"both", process.KillParams{Signal: "NOPE", Interval: experiment.Duration(time.Millisecond)}, []string{"signal", "interval"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFieldErrors(t, tt.params.Validate(), tt.fields, tt.msg)
		})
	}
}

func TestKillValidateDuration(t *testing.T) {
	sec := experiment.Duration(time.Second)
	tests := []struct {
		name     string
		interval experiment.Duration
		duration time.Duration
		fields   []string
		msg      string
	}{
		{"once", 0, 0, nil, ""},
		{"repeated", sec, 10 * time.Second, nil, ""},
		{"duration without interval", 0, 10 * time.Second, []string{""}, "cannot be undone"},
		{"interval without duration", sec, 0, []string{"interval"}, "needs the step's duration"},
		{"interval as long as the duration", sec, time.Second, []string{"interval"}, "never repeat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := process.KillParams{Signal: "KILL", Interval: tt.interval}
			checkFieldErrors(t, p.ValidateDuration(tt.duration), tt.fields, tt.msg)
		})
	}
}

func TestInfo(t *testing.T) {
	for name, reversible := range map[string]bool{"process.kill": false, "process.pause": true} {
		info := lookup(t, name).Info()
		if info.Reversible != reversible || !slices.Equal(info.Targets, []target.Type{target.Process}) {
			t.Errorf("%s: reversible %v, targets %v; want %v, [process]", name, info.Reversible, info.Targets, reversible)
		}
	}
}

// checkFieldErrors checks err names exactly the fields given and, if msg
// is set, says msg.
func checkFieldErrors(t *testing.T, err error, fields []string, msg string) {
	t.Helper()
	if got := faulttest.Fields(err); !slices.Equal(got, fields) {
		t.Fatalf("errors %v on fields %q, want fields %q", err, got, fields)
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not say %q", err, msg)
	}
}

// supervisor restarts a command whenever it exits, as systemd or a
// container runtime would, and remembers how each instance ended.
type supervisor struct {
	stop   chan struct{}
	exited chan struct{}
	mu     sync.Mutex
	runs   []*instance
	err    error
}

type instance struct {
	pid     int
	started time.Time
	ended   bool
	signal  syscall.Signal
}

func supervise(t *testing.T, argv []string) *supervisor {
	s := &supervisor{stop: make(chan struct{}), exited: make(chan struct{})}
	go s.loop(argv)
	t.Cleanup(func() { s.close(t) })
	return s
}

func (s *supervisor) loop(argv []string) {
	defer close(s.exited)
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		in := &instance{pid: cmd.Process.Pid, started: time.Now()}
		s.mu.Lock()
		s.runs = append(s.runs, in)
		s.mu.Unlock()
		_ = cmd.Wait()
		s.mu.Lock()
		in.ended = true
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			in.signal = ws.Signal()
		}
		s.mu.Unlock()
	}
}

// close stops restarting and kills the running instance by its pid (not yet
// reaped, so still ours).
func (s *supervisor) close(t *testing.T) {
	close(s.stop)
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		if n := len(s.runs); n > 0 && !s.runs[n-1].ended {
			_ = syscall.Kill(s.runs[n-1].pid, syscall.SIGKILL)
		}
		s.mu.Unlock()
		select {
		case <-s.exited:
			return
		case <-deadline:
			t.Errorf("supervisor did not stop")
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *supervisor) firstPID(t *testing.T) int {
	t.Helper()
	var pid int
	eventually(t, "the supervisor started its first instance", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err != nil {
			t.Fatalf("supervisor: %v", s.err)
		}
		if len(s.runs) > 0 {
			pid = s.runs[0].pid
		}
		return pid != 0
	})
	return pid
}

// killed counts the instances ended by SIGKILL.
func (s *supervisor) killed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, in := range s.runs {
		if in.signal == syscall.SIGKILL {
			n++
		}
	}
	return n
}

func (s *supervisor) startedAfter(t0 time.Time) []instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []instance
	for _, in := range s.runs {
		if in.started.After(t0) {
			out = append(out, *in)
		}
	}
	return out
}

// running reports whether the latest instance is alive.
func (s *supervisor) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.runs) > 0 && !s.runs[len(s.runs)-1].ended
}
