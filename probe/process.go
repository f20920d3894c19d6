package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/expect"
	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/target"
)

// ProcessParams are the settings of the process probe: a process selector,
// written inline as in `process: {cmdline: "backend --port 90[0-9][0-9]"}`.
type ProcessParams struct {
	experiment.ProcessSelector `yaml:",inline"`
}

func init() {
	Define(Def[ProcessParams]{
		Name:     "process",
		Summary:  "counts the live processes a selector matches",
		Measures: map[string]expect.Kind{"count": expect.Number},
		Primary:  "count",
		Measure:  measureProcess,
	})
}

// Validate implements experiment.Validator.
func (p *ProcessParams) Validate() error {
	if p.ProcessSelector == (experiment.ProcessSelector{}) {
		return errors.New("empty selector: give at least one of pid, name, cmdline, pidfile, user")
	}
	if p.PID < 0 {
		return experiment.FieldErrorf("pid", "must be a positive process id")
	}
	return nil
}

func measureProcess(ctx context.Context, p *ProcessParams) Measurement {
	found, err := target.FindProcesses(ctx, &p.ProcessSelector)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return Measurement{Err: fmt.Sprintf("find processes: %v", err)}
		}
		// No pidfile: the process it would name is not running.
		return Measurement{Values: map[string]any{"count": 0.0}, Detail: "no pidfile at " + p.PIDFile}
	}
	m := Measurement{Values: map[string]any{"count": float64(len(found))}}
	if len(found) > 0 {
		const shown = 8
		pids := make([]string, 0, min(len(found), shown))
		for _, t := range found[:min(len(found), shown)] {
			pids = append(pids, strconv.Itoa(t.PID))
		}
		if len(found) > shown {
			pids = append(pids, "…")
		}
		m.Detail = "pid " + strings.Join(pids, ", ")
	}
	return m
}
