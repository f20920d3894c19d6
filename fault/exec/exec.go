// Package exec is the exec fault kind, like Chaos Toolkit's process
// provider: it runs a command to cause the fault and, optionally, another to
// undo it, or keeps a command running in the background while the fault is
// active.
//
// Every process it starts runs in a process group of its own and carries
// fault.TagEnv=<fault id> in its environment, so recovery, even in a new
// faultline after the one that injected was killed, finds what is left
// running from the record alone and ends it.
package exec

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	osexec "os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
)

// Params are the parameters of exec.
type Params struct {
	Command    []string            `yaml:"command" json:"command,omitempty" doc:"the command and its arguments, run without a shell"`
	Recover    []string            `yaml:"recover" json:"recover,omitempty" doc:"command run at recovery to undo the fault (may run again if recovery is retried: make it idempotent)"`
	Env        map[string]string   `yaml:"env" json:"env,omitempty" doc:"environment variables added to faultline's own"`
	Dir        string              `yaml:"dir" json:"dir,omitempty" doc:"working directory of the commands"`
	Timeout    experiment.Duration `yaml:"timeout" json:"timeout,omitempty" doc:"how long command and recover may each run before they are killed (not a background command)"`
	Background bool                `yaml:"background" json:"background,omitempty" doc:"keep the command running while the fault is active; it is stopped at recovery"`
}

// stopGrace is how long a background process has to exit after SIGTERM
// before it gets SIGKILL.
const stopGrace = 5 * time.Second

// stderrTail is how much of a failed command's stderr its error carries.
const stderrTail = 2048

// Validate implements experiment.Validator.
func (p *Params) Validate() error {
	var errs []error
	switch {
	case len(p.Command) == 0:
		errs = append(errs, experiment.FieldErrorf("command", "command is required: the program and its arguments, such as [\"iptables\", \"-A\", …]"))
	case p.Command[0] == "":
		errs = append(errs, experiment.FieldErrorf("command", "the first element names the program to run and must not be empty"))
	}
	if len(p.Recover) > 0 && p.Recover[0] == "" {
		errs = append(errs, experiment.FieldErrorf("recover", "the first element names the program to run and must not be empty"))
	}
	if _, ok := p.Env[fault.TagEnv]; ok {
		errs = append(errs, experiment.FieldErrorf("env", "%s is set by faultline to tag the processes it starts", fault.TagEnv))
	}
	if p.Timeout <= 0 {
		errs = append(errs, experiment.FieldErrorf("timeout", "timeout must be more than 0s"))
	}
	return errors.Join(errs...)
}

// ValidateDuration implements experiment.DurationValidator: the fault can
// last only if there is something to undo at its end.
func (p *Params) ValidateDuration(d time.Duration) error {
	if d != 0 && len(p.Recover) == 0 && !p.Background {
		return errors.New("exec without recover or background has nothing to undo, so it takes no duration; add a recover command or set background: true")
	}
	return nil
}

// state is what Inject learned: the background process, if any.
type state struct {
	PID       int    `json:"pid,omitempty"`
	StartTime uint64 `json:"startTime,omitempty"`
}

func init() {
	fault.Register(fault.Def[Params]{
		Name:       "exec",
		Summary:    "Run a command to cause a fault (and another to undo it), or keep one running in the background while the fault is active",
		Reversible: true,
		Defaults:   func() Params { return Params{Timeout: experiment.Duration(30 * time.Second)} },
		Preflight:  preflight,
		Inject:     inject,
		Recover:    recoverExec,
	})
}

// preflight checks that the working directory and the programs exist.
func preflight(_ context.Context, p *Params, _ *fault.Record) error {
	if p.Dir != "" {
		fi, err := os.Stat(p.Dir)
		if err != nil {
			return fmt.Errorf("exec: working directory: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("exec: working directory %s is not a directory", p.Dir)
		}
	}
	for _, argv := range [][]string{p.Command, p.Recover} {
		if len(argv) == 0 || strings.Contains(argv[0], "/") {
			continue // a path is resolved against dir when run
		}
		if _, err := osexec.LookPath(argv[0]); err != nil {
			return fmt.Errorf("exec: %w: install it or give its full path", err)
		}
	}
	return nil
}

func inject(ctx context.Context, p *Params, rec *fault.Record) error {
	if !p.Background {
		return run(ctx, p, p.Command, rec.ID)
	}
	// The process outlives Inject: recovery stops it.
	cmd := command(context.WithoutCancel(ctx), p, p.Command, rec.ID)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s in the background: %w", quote(p.Command), err)
	}
	// Reap the process whenever it ends; recovery finds it by its tag.
	go func() { _ = cmd.Wait() }()
	st, err := procfs.ReadStat(cmd.Process.Pid)
	if err != nil {
		// It already exited and was reaped: there is nothing to record.
		return nil
	}
	return rec.SetState(state{PID: st.PID, StartTime: st.StartTime})
}

// recoverExec stops whatever the fault left running, then runs the recover
// command. It works from the record alone: the processes are found by their
// tag.
func recoverExec(ctx context.Context, p *Params, rec *fault.Record) error {
	var st state
	if err := rec.GetState(&st); err != nil {
		return err
	}
	if err := stopTagged(ctx, rec.ID, st); err != nil {
		return err
	}
	if len(p.Recover) == 0 {
		return nil
	}
	// Recovery must finish even when the caller has given up: the
	// command's own timeout bounds it.
	return run(context.WithoutCancel(ctx), p, p.Recover, rec.ID+"/recover")
}

// command builds argv as the fault runs it: in a process group of its own,
// which is killed when ctx is done, with the tag in its environment.
func command(ctx context.Context, p *Params, argv []string, tag string) *osexec.Cmd {
	cmd := osexec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = os.Environ()
	for _, k := range slices.Sorted(maps.Keys(p.Env)) {
		cmd.Env = append(cmd.Env, k+"="+p.Env[k])
	}
	cmd.Env = append(cmd.Env, fault.TagEnv+"="+tag)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	return cmd
}

// run runs argv in the foreground within the timeout; a failure carries the
// tail of its stderr.
func run(ctx context.Context, p *Params, argv []string, tag string) error {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout.D())
	defer cancel()
	cmd := command(ctx, p, argv, tag)
	var stderr tail
	cmd.Stderr = &stderr
	// Children it leaves running may hold stderr open: stop reading a
	// second after the command itself exits.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case err == nil, errors.Is(err, osexec.ErrWaitDelay):
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("exec %s: still running after the %s timeout, killed%s", quote(argv), p.Timeout, stderr.suffix())
	case ctx.Err() != nil:
		return fmt.Errorf("exec %s: %w%s", quote(argv), ctx.Err(), stderr.suffix())
	}
	return fmt.Errorf("exec %s: %w%s", quote(argv), err, stderr.suffix())
}

// stopTagged ends the processes tagged with id, and the recorded background
// process: SIGTERM to each one's process group, then SIGKILL to those still
// alive after stopGrace (at once if ctx is already done).
func stopTagged(ctx context.Context, id string, st state) error {
	procs, err := tagged(id, st)
	if err != nil {
		return err
	}
	if len(procs) == 0 {
		return nil
	}
	own, err := procfs.Self()
	if err != nil {
		return fmt.Errorf("stop processes of fault %s: %w", id, err)
	}
	signalAll(procs, own.PGID, unix.SIGTERM)
	grace, cancel := context.WithTimeout(ctx, stopGrace)
	defer cancel()
	if procs = waitGone(grace, procs); len(procs) == 0 {
		return nil
	}
	signalAll(procs, own.PGID, unix.SIGKILL)
	// SIGKILL cannot be ignored; give the kernel a moment to tear down.
	settle, cancel2 := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel2()
	if procs = waitGone(settle, procs); len(procs) > 0 {
		pids := make([]string, len(procs))
		for i, s := range procs {
			pids[i] = fmt.Sprint(s.PID)
		}
		return fmt.Errorf("stop processes of fault %s: pids %s still run after SIGKILL", id, strings.Join(pids, ", "))
	}
	return nil
}

// tagged lists the live processes tagged with id, plus the recorded
// background process if it lives (its environment may be unreadable).
func tagged(id string, st state) ([]procfs.Stat, error) {
	procs, err := procfs.FindByEnv(fault.TagEnv, id)
	if err != nil {
		return nil, fmt.Errorf("find processes of fault %s: %w", id, err)
	}
	if st.PID != 0 && !slices.ContainsFunc(procs, func(s procfs.Stat) bool { return s.PID == st.PID }) {
		if s, err := procfs.ReadStat(st.PID); err == nil && s.StartTime == st.StartTime && s.State != 'Z' {
			procs = append(procs, s)
		}
	}
	return procs, nil
}

// signalAll sends sig to each process's group, or to the process alone when
// its group is faultline's own.
func signalAll(procs []procfs.Stat, ownPGID int, sig unix.Signal) {
	for _, s := range procs {
		if !procfs.Alive(s.PID, s.StartTime) {
			continue
		}
		if s.PGID != ownPGID && s.PGID > 1 {
			_ = unix.Kill(-s.PGID, sig)
		}
		_ = unix.Kill(s.PID, sig)
	}
}

// waitGone polls until every process has exited or ctx is done, and returns
// those still alive.
func waitGone(ctx context.Context, procs []procfs.Stat) []procfs.Stat {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		procs = slices.DeleteFunc(procs, func(s procfs.Stat) bool { return !procfs.Alive(s.PID, s.StartTime) })
		if len(procs) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return procs
		case <-tick.C:
		}
	}
}

// tail keeps the last stderrTail bytes written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - stderrTail; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// suffix formats the tail for an error message.
func (t *tail) suffix() string {
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return ": stderr: " + s
}

func quote(argv []string) string { return fmt.Sprintf("%q", argv) }
