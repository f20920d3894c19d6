package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/engine"
	"github.com/faultline-dev/faultline/experiment"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate EXPERIMENT...",
		Short: "Check experiment documents without running them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, file := range args {
				if _, err := experiment.Load(file, engine.Catalog()); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", file)
			}
			if len(errs) > 0 {
				return usageError(errors.Join(errs...))
			}
			return nil
		},
	}
}

//go:embed starter.yaml
var starter []byte

func newInitCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write a commented starter experiment (default experiment.yaml)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := "experiment.yaml"
			if len(args) == 1 {
				file = args[0]
			}
			if file == "-" {
				_, err := cmd.OutOrStdout().Write(starter)
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(file, flags, 0o644)
			if err != nil {
				if errors.Is(err, os.ErrExist) {
					return usageError(fmt.Errorf("%s exists; pass --force to overwrite it", file))
				}
				return fmt.Errorf("write starter: %w", err)
			}
			defer f.Close()
			if _, err := f.Write(starter); err != nil {
				return fmt.Errorf("write starter: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: edit it, then `faultline validate %s` and `faultline run %s`\n", file, file, file)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}
