package process_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/faulttest"
	"github.com/faultline-dev/faultline/fault/process"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/target"
)

func TestPauseConformance(t *testing.T) {
	faulttest.Run(t, faulttest.Case{
		Kind:   "process.pause",
		Params: func(*testing.T) any { return &process.PauseParams{} },
		Target: func(t *testing.T) target.Target { return faulttest.StartVictim(t, faulttest.Sleeper()...).Target },
		Applied: func(t *testing.T, rec *fault.Record) bool {
			return stopped(t, rec.Target.PID)
		},
	})
}

func TestPauseGroupConformance(t *testing.T) {
	faulttest.Run(t, faulttest.Case{
		Kind:   "process.pause",
		Params: func(*testing.T) any { return &process.PauseParams{ProcessGroup: true} },
		Target: func(t *testing.T) target.Target { return startGroup(t).Target },
		// Applied while any member is stopped: recovery must resume all.
		Applied: func(t *testing.T, rec *fault.Record) bool {
			for _, pid := range groupPIDs(t, rec.Target.PID) {
				if stopped(t, pid) {
					return true
				}
			}
			return false
		},
	})
}

func TestPauseGroupStopsEveryMember(t *testing.T) {
	kind := lookup(t, "process.pause")
	v := startGroup(t)
	rec := faulttest.NewRecord(t, "process.pause", &process.PauseParams{ProcessGroup: true}, v.Target)
	if err := kind.Inject(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kind.Recover(context.Background(), rec) })
	pids := groupPIDs(t, v.Target.PID)
	eventually(t, "every member of the group stopped", func() bool {
		for _, pid := range pids {
			if !stopped(t, pid) {
				return false
			}
		}
		return true
	})
	if err := kind.Recover(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every member of the group resumed", func() bool {
		for _, pid := range pids {
			if stopped(t, pid) {
				return false
			}
		}
		return true
	})
}

func TestPauseRefusesItsOwnGroupAndItself(t *testing.T) {
	kind := lookup(t, "process.pause")
	// Started without Setpgid: in the test's own process group.
	argv := faulttest.Sleeper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sibling, err := target.FromPID(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	self, err := target.FromPID(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		target target.Target
		params process.PauseParams
		want   string
	}{
		{"group shared with faultline", sibling, process.PauseParams{ProcessGroup: true}, "faultline's own process group"},
		{"faultline itself", self, process.PauseParams{}, "faultline itself"},
		{"faultline's own group through itself", self, process.PauseParams{ProcessGroup: true}, "faultline itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := faulttest.NewRecord(t, "process.pause", &tt.params, tt.target)
			err := kind.Preflight(context.Background(), rec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Preflight: got %v, want an error saying %q", err, tt.want)
			}
			err = kind.Inject(context.Background(), rec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Inject: got %v, want an error saying %q", err, tt.want)
			}
			if stopped(t, sibling.PID) {
				t.Errorf("the process in faultline's group was stopped")
			}
		})
	}
}

func TestPauseTargetGoneOrReused(t *testing.T) {
	kind := lookup(t, "process.pause")
	for _, group := range []bool{false, true} {
		t.Run(fmt.Sprintf("processGroup=%v", group), func(t *testing.T) {
			exited := faulttest.StartVictim(t, faulttest.Sleeper()...)
			_ = exited.Cmd.Process.Kill()
			exited.WaitSignal(t, 5*time.Second)

			alive := faulttest.StartVictim(t, faulttest.Sleeper()...)
			reused := alive.Target
			reused.StartTime++ // the same pid, another process

			for name, tgt := range map[string]target.Target{"exited": exited.Target, "pid reused": reused} {
				rec := faulttest.NewRecord(t, "process.pause", &process.PauseParams{ProcessGroup: group}, tgt)
				err := kind.Inject(context.Background(), rec)
				if !errors.Is(err, procfs.ErrGone) || !strings.Contains(err.Error(), "exited after it was selected") {
					t.Errorf("%s: Inject: got %v, want an error saying the process exited", name, err)
				}
				if err := kind.Recover(context.Background(), rec); err != nil {
					t.Errorf("%s: Recover of a process that is gone: %v", name, err)
				}
			}
			if stopped(t, alive.Target.PID) {
				t.Errorf("the process now holding the pid was stopped")
			}
		})
	}
}

func TestPauseRecoverAfterTargetExited(t *testing.T) {
	kind := lookup(t, "process.pause")
	for _, group := range []bool{false, true} {
		t.Run(fmt.Sprintf("processGroup=%v", group), func(t *testing.T) {
			v := faulttest.StartVictim(t, faulttest.Sleeper()...)
			rec := faulttest.NewRecord(t, "process.pause", &process.PauseParams{ProcessGroup: group}, v.Target)
			if err := kind.Inject(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			_ = v.Cmd.Process.Kill() // SIGKILL ends a stopped process too
			v.WaitSignal(t, 5*time.Second)
			if err := kind.Recover(context.Background(), faulttest.RoundTrip(t, rec)); err != nil {
				t.Errorf("Recover after the paused process exited: %v", err)
			}
		})
	}
}

// TestPausePreflightPermission checks the error for a process faultline may
// not signal. As root it runs the check in a copy of the test binary
// running as nobody, against a victim owned by root.
func TestPausePreflightPermission(t *testing.T) {
	v := faulttest.StartVictim(t, faulttest.Sleeper()...)
	out := runAsNobody(t, "TestHelperPreflight", fmt.Sprint(v.Target.PID))
	if !strings.Contains(out, "not permitted to signal") || !strings.Contains(out, "run faultline as root") {
		t.Errorf("Preflight as nobody on a root process: got %q, want an error saying to run as the process's user or root", out)
	}
}

// stopped reports whether pid is in the stopped state.
func stopped(t *testing.T, pid int) bool {
	t.Helper()
	st, err := procfs.ReadStat(pid)
	if errors.Is(err, procfs.ErrGone) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.State == 'T'
}

// startGroup starts a shell leading a process group of three processes and
// waits until all three run.
func startGroup(t *testing.T) *faulttest.Victim {
	t.Helper()
	a, b := faulttest.Sleeper(), faulttest.Sleeper()
	v := faulttest.StartVictim(t, "sh", "-c", strings.Join(a, " ")+" & "+strings.Join(b, " ")+"; wait")
	eventually(t, "the group's children started", func() bool { return len(groupPIDs(t, v.Target.PID)) == 3 })
	return v
}

// groupPIDs lists the live members of process group pgid.
func groupPIDs(t *testing.T, pgid int) []int {
	t.Helper()
	pids, err := procfs.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, pid := range pids {
		if st, err := procfs.ReadStat(pid); err == nil && st.PGID == pgid && st.State != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

func lookup(t *testing.T, name string) fault.Kind {
	t.Helper()
	k, ok := fault.Lookup(name)
	if !ok {
		t.Fatalf("kind %s is not registered", name)
	}
	return k
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
