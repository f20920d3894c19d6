// Command faultline runs chaos experiments: it injects faults into chosen
// targets while checking that a system's steady state holds, and always
// rolls the faults back.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError is exit code 2: the document or the command line is invalid.
func usageError(err error) error { return &exitError{code: 2, err: err} }

func main() {
	if runWorkerIfRequested() {
		return
	}
	preferSelfOnPath()
	root := newRoot()
	err := root.Execute()
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "faultline:", ee.err)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "faultline:", err)
	os.Exit(2)
}

// preferSelfOnPath puts this binary's directory first on PATH, so a
// command named `faultline` in an experiment (a rollback that restarts the
// demo shop, say) runs this faultline.
func preferSelfOnPath() {
	if exe, err := os.Executable(); err == nil {
		os.Setenv("PATH", filepath.Dir(exe)+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "faultline",
		Short:         "Chaos experiments that always roll back",
		Long:          "faultline injects faults into processes, hosts and services while checking that the steady state holds,\nand always recovers every fault: on success, on failure, on Ctrl-C, and after a crash (faultline recover).",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("ledger", "", "ledger file recording every applied fault (default $FAULTLINE_LEDGER or ~/.local/state/faultline/ledger.jsonl)")
	root.AddCommand(newRunCmd(), newValidateCmd(), newInitCmd(), newRecoverCmd(), newStatusCmd(),
		newFaultsCmd(), newInjectCmd(), newReportCmd(), newDemoCmd(), newLoadCmd(), newProxyCmd())
	root.AddCommand(newAgentCmd())
	root.AddCommand(newDoctorCmd())
	root.AddCommand(newServerCmd())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	return root
}
