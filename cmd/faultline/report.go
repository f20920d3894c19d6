package main

import (
	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/report"
)

func newReportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report JOURNAL",
		Short: "Render a run's journal as a Markdown or HTML report",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := journal.Read(args[0])
			if err != nil {
				return usageError(err)
			}
			if out == "" || out == "-" {
				return report.Markdown(cmd.OutOrStdout(), j)
			}
			if err := report.Write(out, j); err != nil {
				return err
			}
			cmd.PrintErrf("report: %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "report file: .md or .html (default: Markdown on stdout)")
	return cmd
}
