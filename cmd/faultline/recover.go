package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/fault"
)

func newRecoverCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Recover every fault left open in the ledger (after faultline was killed)",
		Long: `Recover every fault the ledger holds open, newest first, using only the
ledger's records. Safe to run more than once: a fault is recovered exactly once.
Faults owned by a faultline process that is still running are left to it
unless --force is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := openLedger(cmd)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			// What a recovery finds (a fault that ended with its
			// process) is printed as it happens, before its outcome.
			ctx := fault.WithNotes(cmd.Context(), func(msg string) { fmt.Fprintf(out, "note      %s\n", msg) })
			results, err := l.RecoverAll(ctx, force)
			if err != nil {
				return err
			}
			if len(results) == 0 {
				fmt.Fprintln(out, "no open faults")
				return nil
			}
			var failed []error
			for _, r := range results {
				rec := r.Fault.Record
				switch {
				case r.Skipped != "":
					fmt.Fprintf(out, "skipped   %s %s on %s: %s\n", rec.ID, rec.Kind, rec.Target, r.Skipped)
				case r.Err != nil:
					fmt.Fprintf(out, "FAILED    %s %s on %s: %v\n", rec.ID, rec.Kind, rec.Target, r.Err)
					failed = append(failed, r.Err)
				default:
					fmt.Fprintf(out, "%-9s %s %s on %s\n", r.Outcome, rec.ID, rec.Kind, rec.Target)
				}
			}
			if len(failed) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d fault(s) could not be recovered and stay open: %w", len(failed), errors.Join(failed...))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "also recover faults whose faultline process is still running")
	return cmd
}

func newStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the faults that are open in the ledger",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := openLedger(cmd)
			if err != nil {
				return err
			}
			open, err := l.Open(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(open)
			}
			if len(open) == 0 {
				fmt.Fprintf(out, "no open faults (ledger %s)\n", l.Path())
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tTARGET\tSTATE\tSINCE\tOWNER")
			for _, o := range open {
				owner := fmt.Sprintf("pid %d (gone: run `faultline recover`)", o.Record.Owner.PID)
				if o.OwnerAlive {
					owner = fmt.Sprintf("pid %d (running)", o.Record.Owner.PID)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Record.Kind, o.Record.Target, o.State,
					time.Since(o.Record.Created).Round(time.Second), owner)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
