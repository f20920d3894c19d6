package process

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/target"
)

// KillParams are the parameters of process.kill.
type KillParams struct {
	Signal   string              `yaml:"signal" json:"signal,omitempty" doc:"signal to send: a name (SIGKILL, KILL, TERM) or a number"`
	Interval experiment.Duration `yaml:"interval" json:"interval,omitempty" doc:"kill again every interval during the step's duration: the processes with the target's exact command line and user (the service restarted by its supervisor)"`
}

// minInterval keeps a repeated kill from becoming a busy loop.
const minInterval = 10 * time.Millisecond

// Validate implements experiment.Validator.
func (p *KillParams) Validate() error {
	var errs []error
	if sig, err := parseSignal(p.Signal); err != nil {
		errs = append(errs, experiment.FieldErrorf("signal", "%v", err))
	} else if stops(sig) {
		errs = append(errs, experiment.FieldErrorf("signal", "%s stops the process and a kill is never undone: use process.pause, which resumes it", unix.SignalName(sig)))
	}
	if p.Interval != 0 && p.Interval.D() < minInterval {
		errs = append(errs, experiment.FieldErrorf("interval", "interval %s is too short: use at least %s", p.Interval, minInterval))
	}
	return errors.Join(errs...)
}

// ValidateDuration implements experiment.DurationValidator: a kill cannot be
// undone, so it takes a duration only when it repeats within it.
func (p *KillParams) ValidateDuration(d time.Duration) error {
	switch {
	case p.Interval == 0 && d != 0:
		return errors.New("process.kill cannot be undone, so it takes no duration; set interval to kill again and again during the duration")
	case p.Interval != 0 && d == 0:
		return experiment.FieldErrorf("interval", "repeating the kill needs the step's duration: add duration to the step")
	case p.Interval != 0 && p.Interval.D() >= d:
		return experiment.FieldErrorf("interval", "interval %s is not shorter than the step's duration %s, so the kill would never repeat", p.Interval, d)
	}
	return nil
}

// stops reports whether sig's default action stops the process.
func stops(sig unix.Signal) bool {
	return sig == unix.SIGSTOP || sig == unix.SIGTSTP || sig == unix.SIGTTIN || sig == unix.SIGTTOU
}

func init() {
	fault.Register(fault.Def[KillParams]{
		Name:     "process.kill",
		Summary:  "Send a signal (SIGKILL by default) to the process, once or every interval to its restarted successors",
		Targets:  []target.Type{target.Process},
		Needs:    []string{"permission to signal the target: its user or root"},
		Defaults: func() KillParams { return KillParams{Signal: "SIGKILL"} },
		Preflight: func(_ context.Context, _ *KillParams, rec *fault.Record) error {
			return checkSignal(rec.Target)
		},
		Inject:  injectKill,
		Recover: recoverKill,
	})
}

func injectKill(ctx context.Context, p *KillParams, rec *fault.Record) error {
	sig, err := parseSignal(p.Signal)
	if err != nil {
		return fmt.Errorf("kill %s: %w", rec.Target, err)
	}
	if err := signalProcess(rec.Target, sig); err != nil {
		if errors.Is(err, procfs.ErrGone) {
			return fmt.Errorf("kill: %w", goneErr(rec.Target))
		}
		return fmt.Errorf("kill %s: %w", rec.Target, err)
	}
	if p.Interval == 0 {
		return nil
	}
	return startRepeat(ctx, p.Interval.D(), sig, rec)
}

// recoverKill undoes nothing (a kill cannot be undone) but stops the
// repeating loop of this fault, if this process runs one.
func recoverKill(_ context.Context, _ *KillParams, rec *fault.Record) error {
	repeats.Lock()
	r := repeats.m[rec.ID]
	delete(repeats.m, rec.ID)
	repeats.Unlock()
	if r != nil {
		r.stop()
		<-r.done // no kill is in flight once Recover returns
	}
	return nil
}

// repeats holds the running kill loops by fault id, so Recover finds them.
// A loop lives in the process that injected it and dies with it.
var repeats = struct {
	sync.Mutex
	m map[string]*repeat
}{m: map[string]*repeat{}}

type repeat struct {
	stop context.CancelFunc
	done chan struct{}
}

// startRepeat kills, every interval, the live processes whose command line
// and user are exactly the target's, until Recover or until the record's
// duration has passed.
func startRepeat(ctx context.Context, interval time.Duration, sig unix.Signal, rec *fault.Record) error {
	if rec.Target.Cmdline == "" {
		return fmt.Errorf("kill %s every %s: the target's command line is unknown, so its restarted successors cannot be found", rec.Target, interval)
	}
	sel := &experiment.ProcessSelector{
		Cmdline: experiment.Regexp{Regexp: regexp.MustCompile("^" + regexp.QuoteMeta(rec.Target.Cmdline) + "$")},
		User:    rec.Target.User,
	}
	// The loop outlives Inject's context: it runs until Recover stops it,
	// with the record's duration as a backstop.
	var (
		loopCtx context.Context
		stop    context.CancelFunc
	)
	if rec.Duration > 0 {
		loopCtx, stop = context.WithTimeout(context.WithoutCancel(ctx), rec.Duration.D())
	} else {
		loopCtx, stop = context.WithCancel(context.WithoutCancel(ctx))
	}
	r := &repeat{stop: stop, done: make(chan struct{})}
	repeats.Lock()
	if _, dup := repeats.m[rec.ID]; dup {
		repeats.Unlock()
		stop()
		return fmt.Errorf("kill %s every %s: fault %s is already repeating in this process", rec.Target, interval, rec.ID)
	}
	repeats.m[rec.ID] = r
	repeats.Unlock()
	go func() {
		defer close(r.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-tick.C:
			}
			killMatching(loopCtx, sel, sig)
		}
	}()
	return nil
}

// killMatching signals every live process sel matches and notes each
// kill in the journal. A process that exits meanwhile, or may not be
// signalled, is noted and skipped; the next round tries again.
func killMatching(ctx context.Context, sel *experiment.ProcessSelector, sig unix.Signal) {
	victims, err := target.FindProcesses(ctx, sel)
	if err != nil {
		fault.Notef(ctx, "find processes to kill: %v", err)
		return
	}
	for _, v := range victims {
		if ctx.Err() != nil {
			return
		}
		if err := signalProcess(v, sig); err != nil {
			fault.Notef(ctx, "%s %s: %v", unix.SignalName(sig), v, err)
			continue
		}
		fault.Notef(ctx, "sent %s to %s", unix.SignalName(sig), v)
	}
}
