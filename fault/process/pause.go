package process

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/target"
)

// PauseParams are the parameters of process.pause.
type PauseParams struct {
	ProcessGroup bool `yaml:"processGroup" json:"processGroup,omitempty" doc:"stop the target's whole process group (never faultline's own)"`
}

// pauseState is what recovery of a group pause needs: the group, and its
// members when it was stopped, so a group id reused after they all exited
// is never resumed.
type pauseState struct {
	PGID    int      `json:"pgid"`
	Members []member `json:"members"`
}

type member struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
}

func init() {
	fault.Register(fault.Def[PauseParams]{
		Name:       "process.pause",
		Summary:    "Freeze the process (or its process group) with SIGSTOP; SIGCONT at recovery",
		Targets:    []target.Type{target.Process},
		Reversible: true,
		Needs:      []string{"permission to signal the target: its user or root"},
		Preflight:  preflightPause,
		Inject:     injectPause,
		Recover:    recoverPause,
	})
}

func preflightPause(_ context.Context, p *PauseParams, rec *fault.Record) error {
	st, err := pauseTargets(p, rec.Target)
	if err != nil {
		return err
	}
	for _, m := range st.Members {
		t := rec.Target
		if m.PID != t.PID {
			t, err = target.FromPID(m.PID)
			if err != nil {
				continue // exited meanwhile: nothing to stop
			}
		}
		if err := checkSignal(t); err != nil {
			return fmt.Errorf("pause: %w", err)
		}
	}
	return nil
}

func injectPause(_ context.Context, p *PauseParams, rec *fault.Record) error {
	st, err := pauseTargets(p, rec.Target)
	if err != nil {
		return err
	}
	if !p.ProcessGroup {
		if err := signalProcess(rec.Target, unix.SIGSTOP); err != nil {
			if errors.Is(err, procfs.ErrGone) {
				return fmt.Errorf("pause: %w", goneErr(rec.Target))
			}
			return fmt.Errorf("pause %s: %w", rec.Target, err)
		}
		return nil
	}
	if err := rec.SetState(st); err != nil {
		return err
	}
	if err := signalErr(rec.Target, unix.Kill(-st.PGID, unix.SIGSTOP)); err != nil {
		if errors.Is(err, procfs.ErrGone) {
			return fmt.Errorf("pause process group %d of %s: every member exited: %w", st.PGID, rec.Target, err)
		}
		return fmt.Errorf("pause process group %d of %s: %w", st.PGID, rec.Target, err)
	}
	return nil
}

// pauseTargets checks t may be paused and lists what a pause stops: t
// alone, or its process group, which must not be faultline's own.
func pauseTargets(p *PauseParams, t target.Target) (pauseState, error) {
	if !t.Alive() {
		return pauseState{}, fmt.Errorf("pause: %w", goneErr(t))
	}
	if t.PID == os.Getpid() {
		return pauseState{}, fmt.Errorf("pause %s: it is faultline itself, which would never resume", t)
	}
	self := member{PID: t.PID, StartTime: t.StartTime}
	if !p.ProcessGroup {
		return pauseState{Members: []member{self}}, nil
	}
	stat, err := procfs.ReadStat(t.PID)
	if err != nil {
		return pauseState{}, fmt.Errorf("pause process group of %s: %w", t, err)
	}
	own, err := procfs.Self()
	if err != nil {
		return pauseState{}, fmt.Errorf("pause process group of %s: %w", t, err)
	}
	if stat.PGID == own.PGID {
		return pauseState{}, fmt.Errorf("pause process group %d of %s: it is faultline's own process group, so faultline would freeze itself; pause the process alone (processGroup: false) or start it in a group of its own (setsid)", stat.PGID, t)
	}
	members, err := groupMembers(stat.PGID)
	if err != nil {
		return pauseState{}, fmt.Errorf("pause process group %d of %s: %w", stat.PGID, t, err)
	}
	return pauseState{PGID: stat.PGID, Members: members}, nil
}

// groupMembers lists the live processes of process group pgid.
func groupMembers(pgid int) ([]member, error) {
	pids, err := procfs.PIDs()
	if err != nil {
		return nil, err
	}
	var out []member
	for _, pid := range pids {
		s, err := procfs.ReadStat(pid)
		if err != nil || s.PGID != pgid || s.State == 'Z' {
			continue
		}
		out = append(out, member{PID: pid, StartTime: s.StartTime})
	}
	return out, nil
}

// recoverPause resumes what the pause stopped. A process (or every member of
// a group) gone meanwhile is fine: the pause went with it.
func recoverPause(_ context.Context, p *PauseParams, rec *fault.Record) error {
	if !p.ProcessGroup {
		err := signalProcess(rec.Target, unix.SIGCONT)
		if err != nil && !errors.Is(err, procfs.ErrGone) {
			return fmt.Errorf("resume %s: %w", rec.Target, err)
		}
		return nil
	}
	var st pauseState
	if err := rec.GetState(&st); err != nil {
		return err
	}
	if st.PGID == 0 {
		// No state: faultline died while injecting, before the engine
		// could record it. The group is the target's, if it still lives.
		stat, err := procfs.ReadStat(rec.Target.PID)
		if err != nil || !rec.Target.Alive() {
			return nil
		}
		st = pauseState{PGID: stat.PGID, Members: []member{{PID: rec.Target.PID, StartTime: rec.Target.StartTime}}}
	}
	if !anyInGroup(st) {
		return nil
	}
	if err := signalErr(rec.Target, unix.Kill(-st.PGID, unix.SIGCONT)); err != nil && !errors.Is(err, procfs.ErrGone) {
		return fmt.Errorf("resume process group %d of %s: %w", st.PGID, rec.Target, err)
	}
	return nil
}

// anyInGroup reports whether a recorded member still lives in the group.
func anyInGroup(st pauseState) bool {
	for _, m := range st.Members {
		s, err := procfs.ReadStat(m.PID)
		if err == nil && s.StartTime == m.StartTime && s.PGID == st.PGID && s.State != 'Z' {
			return true
		}
	}
	return false
}
