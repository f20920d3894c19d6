package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/engine"
	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/ledger"
	"github.com/faultline-dev/faultline/report"
	"github.com/faultline-dev/faultline/telemetry"
)

type runFlags struct {
	journal       string
	report        string
	dryRun        bool
	quiet         bool
	metricsAddr   string
	metricsLinger time.Duration
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run EXPERIMENT",
		Short: "Run an experiment: check the steady state, inject, recover, verify",
		Long: `Run an experiment document.

Exit codes: 0 the hypothesis held; 1 it deviated (a weakness was found);
2 the document or command line is invalid (nothing was injected);
3 aborted (stop condition, halt, signal, failed pre-check) — every fault is
recovered in every case. Ctrl-C halts and still recovers everything.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			x, err := experiment.Load(args[0], engine.Catalog())
			if err != nil {
				return usageError(err)
			}
			return runExperiment(cmd, x, f)
		},
	}
	cmd.Flags().StringVar(&f.journal, "journal", "journal.json", "where to write the run's journal")
	cmd.Flags().StringVar(&f.report, "report", "", "also render a report (.md or .html) to this file")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "resolve targets and check the machine; inject nothing")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "print only failures and the verdict")
	addMetricsFlags(cmd, &f)
	return cmd
}

func addMetricsFlags(cmd *cobra.Command, f *runFlags) {
	cmd.Flags().StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics of the run on this address (e.g. 127.0.0.1:9464)")
	cmd.Flags().DurationVar(&f.metricsLinger, "metrics-linger", 0, "keep serving metrics this long after the run, so the verdict is scraped")
}

func openLedger(cmd *cobra.Command) (*ledger.Ledger, error) {
	path, _ := cmd.Flags().GetString("ledger")
	if path == "" {
		path = ledger.DefaultPath()
	}
	return ledger.Open(path)
}

// runExperiment runs x with signal handling and progress, writes the
// journal and maps the verdict to the exit code.
func runExperiment(cmd *cobra.Command, x *experiment.Experiment, f runFlags) error {
	stderr := cmd.ErrOrStderr()
	var l *ledger.Ledger
	if !f.dryRun {
		var err error
		if l, err = openLedger(cmd); err != nil {
			return &exitError{code: 3, err: err}
		}
	}
	ctx, halt := context.WithCancel(cmd.Context())
	defer halt()
	stopSignals := haltOnSignals(stderr, halt)
	defer stopSignals()

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	prog := newProgress(stderr, f.quiet)
	var obs engine.Observer = prog
	if f.metricsAddr != "" {
		m := telemetry.New(x.Metadata.Name)
		addr, stopMetrics, err := m.Serve(f.metricsAddr, log)
		if err != nil {
			return usageError(err)
		}
		defer func() {
			time.Sleep(f.metricsLinger) // let a last scrape see the verdict
			stopMetrics()
		}()
		fmt.Fprintf(stderr, "metrics: http://%s/metrics\n", addr)
		obs = engine.Observers(prog, m)
	}
	j := engine.Run(ctx, x, engine.Options{Ledger: l, DryRun: f.dryRun, Observer: obs, Logger: log})
	if f.journal != "" {
		if err := j.Write(f.journal); err != nil {
			fmt.Fprintln(stderr, "faultline:", err)
		} else {
			fmt.Fprintf(stderr, "journal: %s\n", f.journal)
		}
	}
	if f.report != "" {
		if err := report.Write(f.report, j); err != nil {
			fmt.Fprintln(stderr, "faultline:", err)
		} else {
			fmt.Fprintf(stderr, "report: %s\n", f.report)
		}
	}
	prog.verdict(j)
	if code := j.Status.ExitCode(); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// haltOnSignals cancels the run on the first SIGINT or SIGTERM. Later
// signals are acknowledged but cannot skip recovery.
func haltOnSignals(w io.Writer, halt context.CancelFunc) (stop func()) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case sig := <-ch:
				n++
				if n == 1 {
					fmt.Fprintf(w, "\n%s: halting — recovering every fault\n", sig)
					halt()
				} else {
					fmt.Fprintf(w, "\n%s: recovery is in progress and will finish first (faults are never left behind)\n", sig)
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
