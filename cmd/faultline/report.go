package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/report"
)

func newReportCmd() *cobra.Command {
	var (
		out     string
		compare bool
		force   bool
	)
	cmd := &cobra.Command{
		Use:   "report JOURNAL | --compare A.json B.json",
		Short: "Render a run's journal, or a before/after of two runs, as a Markdown or HTML report",
		Long: `Render a run's journal as a GameDay report: verdict, hypothesis, a timeline chart per check,
metrics, targets hit, events and a postmortem skeleton.

With --compare, render two runs of the same experiment side by side (A before, B after,
e.g. resilience off and on): both verdicts, the metrics with their change, each check's
charts on the same time scale, and what changed. Journals of different experiments are
refused unless --force.`,
		Example: `  faultline report journal.json -o report.html
  faultline report --compare before.json after.json -o compare.html`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var r renderer
			var err error
			if compare {
				r, err = comparison(cmd, args, force)
			} else {
				r, err = single(args)
			}
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				return r.markdown(cmd.OutOrStdout())
			}
			if err := r.write(out); err != nil {
				return err
			}
			cmd.PrintErrf("report: %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "report file: .md or .html (default: Markdown on stdout)")
	cmd.Flags().BoolVar(&compare, "compare", false, "compare two journals of the same experiment: A (before) and B (after)")
	cmd.Flags().BoolVar(&force, "force", false, "with --compare, compare journals of different experiments")
	return cmd
}

// renderer renders one report as Markdown to a writer, or into a file
// whose extension names the format.
type renderer struct {
	markdown func(io.Writer) error
	write    func(path string) error
}

// single is the report of one journal.
func single(args []string) (renderer, error) {
	if len(args) != 1 {
		return renderer{}, usageError(fmt.Errorf("report takes one journal (or two with --compare), got %d", len(args)))
	}
	j, err := journal.Read(args[0])
	if err != nil {
		return renderer{}, usageError(err)
	}
	return renderer{
		markdown: func(w io.Writer) error { return report.Markdown(w, j) },
		write:    func(path string) error { return report.Write(path, j) },
	}, nil
}

// comparison is the before/after of two journals of one experiment; with
// force, of any two, with a warning.
func comparison(cmd *cobra.Command, args []string, force bool) (renderer, error) {
	if len(args) != 2 {
		return renderer{}, usageError(fmt.Errorf("--compare takes two journals, A (before) and B (after), got %d", len(args)))
	}
	a, err := journal.Read(args[0])
	if err != nil {
		return renderer{}, usageError(err)
	}
	b, err := journal.Read(args[1])
	if err != nil {
		return renderer{}, usageError(err)
	}
	if err := report.SameExperiment(a, b); err != nil {
		if !errors.Is(err, report.ErrDifferentExperiments) || !force {
			return renderer{}, usageError(fmt.Errorf("%w (compare two runs of one experiment, or pass --force)", err))
		}
		cmd.PrintErrf("warning: %v\n", err)
	}
	return renderer{
		markdown: func(w io.Writer) error { return report.CompareMarkdown(w, a, b) },
		write:    func(path string) error { return report.WriteCompare(path, a, b) },
	}, nil
}
