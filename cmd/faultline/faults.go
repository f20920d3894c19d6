package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/probe"
)

func newFaultsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "faults",
		Short: "List every fault kind with its parameters and what it needs (and the probe kinds)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var infos []fault.Info
			for _, n := range fault.Names() {
				k, _ := fault.Lookup(n)
				infos = append(infos, k.Info())
			}
			var probes []probe.Info
			for _, n := range probe.Names() {
				k, _ := probe.Lookup(n)
				probes = append(probes, k.Info())
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"faults": infos, "probes": probes})
			}
			for _, in := range infos {
				fmt.Fprintf(out, "%s — %s\n", in.Name, in.Summary)
				targets := "this host (no target)"
				if len(in.Targets) > 0 {
					ts := make([]string, len(in.Targets))
					for i, t := range in.Targets {
						ts[i] = string(t)
					}
					targets = strings.Join(ts, ", ")
				}
				fmt.Fprintf(out, "  targets: %s\n", targets)
				if !in.Reversible {
					fmt.Fprintln(out, "  irreversible: takes no duration")
				}
				if len(in.Needs) > 0 {
					fmt.Fprintf(out, "  needs: %s\n", strings.Join(in.Needs, "; "))
				}
				for _, p := range in.Params {
					def := ""
					if p.Default != "" {
						def = " (default " + p.Default + ")"
					}
					fmt.Fprintf(out, "  %-14s %-16s %s%s\n", p.Name, p.Type, p.Doc, def)
				}
				fmt.Fprintln(out)
			}
			fmt.Fprintln(out, "probes (for hypothesis checks, stop conditions, probe steps, rollbacks):")
			for _, p := range probes {
				measures := make([]string, 0, len(p.Measures))
				for _, m := range sortedMeasures(p) {
					measures = append(measures, fmt.Sprintf("%s (%s)", m, p.Measures[m]))
				}
				fmt.Fprintf(out, "  %-8s %s; expect: %s\n", p.Name, p.Summary, strings.Join(measures, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func sortedMeasures(p probe.Info) []string {
	var ms []string
	for m := range p.Measures {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	return ms
}
