// Package process holds the fault kinds that act on local processes by
// signalling them: process.kill (once, or again and again like Chaos Monkey)
// and process.pause (SIGSTOP, then SIGCONT at recovery).
//
// A target names a process by pid and start time, so a pid reused by another
// process is never signalled: signals go through a pidfd opened before the
// start time is checked.
package process

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/target"
)

// signalProcess sends sig to t if t is still the process it names (same
// pid, same start time). It returns procfs.ErrGone when it is not; callers
// add which process they meant.
func signalProcess(t target.Target, sig unix.Signal) error {
	fd, err := unix.PidfdOpen(t.PID, 0)
	if errors.Is(err, unix.ENOSYS) {
		// Kernels before 5.3: check, then signal by pid.
		if !t.Alive() {
			return procfs.ErrGone
		}
		return signalErr(t, unix.Kill(t.PID, sig))
	}
	if err != nil {
		return signalErr(t, err)
	}
	defer unix.Close(fd)
	// The pidfd pins the process it was opened on, so checking the start
	// time now rules out a pid reused before the open.
	if !t.Alive() {
		return procfs.ErrGone
	}
	return signalErr(t, unix.PidfdSendSignal(fd, sig, nil, 0))
}

// signalErr explains an error from signalling t.
func signalErr(t target.Target, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ESRCH):
		return procfs.ErrGone
	case errors.Is(err, unix.EPERM):
		switch t.User {
		case "":
			return fmt.Errorf("not permitted to signal it: run faultline as the process's user or as root: %w", err)
		case "root":
			return fmt.Errorf("not permitted to signal it (user root): run faultline as root: %w", err)
		}
		return fmt.Errorf("not permitted to signal it (user %s): run faultline as %s or as root: %w", t.User, t.User, err)
	}
	return err
}

// checkSignal checks, without sending anything, that t is alive and may be
// signalled by this process.
func checkSignal(t target.Target) error {
	if !t.Alive() {
		return goneErr(t)
	}
	if err := signalErr(t, unix.Kill(t.PID, 0)); err != nil {
		if errors.Is(err, procfs.ErrGone) {
			return goneErr(t)
		}
		return fmt.Errorf("%s: %w", t, err)
	}
	return nil
}

// goneErr says that a target exited between being selected and being hit.
func goneErr(t target.Target) error {
	return fmt.Errorf("%s exited after it was selected: %w", t, procfs.ErrGone)
}

// parseSignal reads a signal given by name, with or without the SIG prefix
// and in any case (SIGKILL, KILL, term), or by number (9).
func parseSignal(s string) (unix.Signal, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal %d is not between 1 and 64", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q: use a name such as SIGKILL, KILL or TERM, or a number such as 9", s)
}
