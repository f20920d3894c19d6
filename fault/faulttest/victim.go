package faulttest

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/target"
)

// Sleeper returns the arguments of a long sleep whose command line no other
// process has, to start as a victim.
func Sleeper() []string {
	return []string{"sleep", fmt.Sprintf("600.%09d", rand.N(1_000_000_000))}
}

// Victim is a process started for a test to be hit by a fault.
type Victim struct {
	Target target.Target
	Cmd    *exec.Cmd
	// Done is closed once the process has exited and been reaped; then
	// Cmd.ProcessState tells how it ended.
	Done <-chan struct{}
}

// StartVictim starts argv in a process group of its own, so that a fault on
// its group never reaches the test, and returns it as a target. When the test
// ends the process and its group are killed, by the pid the test knows is
// still theirs (the process is not reaped until then).
//
// Give every victim a command line no other process has (sleep 60.123456
// rather than sleep 60): faults such as a repeated kill find processes by
// their command line, and other tests run on the same machine.
func StartVictim(t *testing.T, argv ...string) *Victim {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start victim %q: %v", argv, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-done:
			return
		default:
		}
		// Not reaped yet, so pid (and the group it leads) is still ours.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("victim pid %d did not exit after SIGKILL", cmd.Process.Pid)
		}
	})
	tgt, err := target.FromPID(cmd.Process.Pid)
	if err != nil {
		t.Fatalf("describe victim %q: %v", argv, err)
	}
	return &Victim{Target: tgt, Cmd: cmd, Done: done}
}

// WaitSignal waits up to timeout for the victim to exit and returns the
// signal that ended it; a victim still running, or one that exited on its
// own, fails the test.
func (v *Victim) WaitSignal(t *testing.T, timeout time.Duration) syscall.Signal {
	t.Helper()
	select {
	case <-v.Done:
	case <-time.After(timeout):
		t.Fatalf("victim %s still runs after %s", v.Target, timeout)
	}
	ws, ok := v.Cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		t.Fatalf("victim %s was not ended by a signal: %s", v.Target, v.Cmd.ProcessState)
	}
	return ws.Signal()
}
