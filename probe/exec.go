package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/expect"
	"github.com/faultline-dev/faultline/experiment"
)

const (
	// execOutputLimit caps each of the stdout and stderr measures.
	execOutputLimit = 64 << 10
	// execWaitDelay is how long output is still read after the command
	// exits (or is killed) while something it left behind holds its
	// stdout or stderr open.
	execWaitDelay = time.Second
)

// ExecParams are the settings of the exec probe.
type ExecParams struct {
	// Command is the program and its arguments; no shell is involved
	// unless named, as in ["sh", "-c", "…"].
	Command []string `yaml:"command" json:"command" required:"true"`
	// Timeout bounds the run; past it the command's whole process group
	// is killed.
	Timeout experiment.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Env is added to faultline's own environment.
	Env map[string]string `yaml:"env" json:"env,omitempty"`
	// Dir is the working directory (default: faultline's).
	Dir string `yaml:"dir" json:"dir,omitempty"`
}

func init() {
	Define(Def[ExecParams]{
		Name:    "exec",
		Summary: "runs a command and measures its exit code, output and duration",
		Measures: map[string]expect.Kind{
			"exitCode": expect.Number,
			"stdout":   expect.Text,
			"stderr":   expect.Text,
			"duration": expect.Duration,
		},
		Primary:  "duration",
		Defaults: func() ExecParams { return ExecParams{Timeout: experiment.Duration(10 * time.Second)} },
		Measure:  measureExec,
	})
}

// Validate implements experiment.Validator.
func (p *ExecParams) Validate() error {
	var errs []error
	if len(p.Command) == 0 || p.Command[0] == "" {
		errs = append(errs, experiment.FieldErrorf("command", `give the program and its arguments, such as ["sh", "-c", "curl -fsS localhost:8080"]`))
	}
	if p.Timeout <= 0 {
		errs = append(errs, experiment.FieldErrorf("timeout", "must be above zero, such as 10s"))
	}
	for _, name := range sortedNames(p.Env) {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			errs = append(errs, experiment.FieldErrorf("env."+name, "bad variable name %q", name))
		}
	}
	return errors.Join(errs...)
}

func measureExec(parent context.Context, p *ExecParams) Measurement {
	ctx, cancel := context.WithTimeout(parent, p.Timeout.D())
	defer cancel()
	name := p.Command[0]
	cmd := exec.CommandContext(ctx, name, p.Command[1:]...)
	cmd.Dir = p.Dir
	if len(p.Env) > 0 {
		cmd.Env = os.Environ()
		for _, k := range sortedNames(p.Env) {
			cmd.Env = append(cmd.Env, k+"="+p.Env[k])
		}
	}
	// The command leads a process group of its own, so a timeout kills
	// everything it started, not only itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = execWaitDelay
	stdout, stderr := newCapture(execOutputLimit), newCapture(execOutputLimit)
	cmd.Stdout, cmd.Stderr = stdout, stderr

	start := time.Now()
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return Measurement{Err: fmt.Sprintf("%s: %s", name, failure(parent, ctx, p.Timeout.D(), err))}
		}
		return Measurement{Err: fmt.Sprintf("cannot start %s: %s", name, startFailure(err, p.Dir))}
	}
	err := cmd.Wait()
	m := Measurement{Values: map[string]any{
		"duration": time.Since(start),
		"stdout":   stdout.text(execOutputLimit),
		"stderr":   stderr.text(execOutputLimit),
	}}
	st := cmd.ProcessState
	if st == nil { // waiting itself failed: the exit status is lost
		m.Err = fmt.Sprintf("%s: %v", name, err)
		return m
	}
	if !st.Exited() && ctx.Err() != nil {
		m.Err = fmt.Sprintf("%s: %s; its process group was killed", name, failure(parent, ctx, p.Timeout.D(), ctx.Err()))
		return m
	}
	code := st.ExitCode()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal()) // as a shell reports it
		m.Detail = "killed by signal: " + ws.Signal().String()
	}
	m.Values["exitCode"] = float64(code)
	if m.Detail == "" {
		out := stdout
		if code != 0 {
			out = stderr
		}
		m.Detail = excerpt(out.text(execOutputLimit), 120)
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		note := "output cut: a process it left behind kept stdout or stderr open"
		if m.Detail != "" {
			note = m.Detail + "; " + note
		}
		m.Detail = note
	}
	return m
}

// startFailure is why a command could not start, without the "exec:"
// prefix and the quoted name the caller already gives. A working directory
// that cannot be entered is named as such: the error of the failed fork
// names the program instead.
func startFailure(err error, dir string) string {
	if dir != "" {
		if _, statErr := os.Stat(dir); statErr != nil {
			return "working directory: " + statErr.Error()
		}
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err.Error()
	}
	return err.Error()
}
