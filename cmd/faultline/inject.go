package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/engine"
	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
)

// untilInterrupted stands for "hold the fault until Ctrl-C".
const untilInterrupted = "8760h"

func newInjectCmd() *cobra.Command {
	var (
		targets, params []string
		mode, duration  string
		maxTargets      int
		seed            int64
		f               runFlags
	)
	cmd := &cobra.Command{
		Use:   "inject KIND",
		Short: "Inject one fault from flags, hold it, then recover it (Ctrl-C recovers early)",
		Example: `  faultline inject process.pause --target cmdline='backend --port 9001' --duration 10s
  faultline inject stress.cpu --param workers=2 --param load=80% --duration 30s
  faultline inject process.kill --target name=worker --mode percent:50`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := injectDocument(args[0], targets, params, mode, duration, maxTargets, cmd.Flags().Changed("seed"), seed)
			if err != nil {
				return usageError(err)
			}
			x, err := experiment.Parse(doc, "<command line>", engine.Catalog())
			if err != nil {
				return usageError(err)
			}
			return runExperiment(cmd, x, f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&targets, "target", nil, "process selector field as key=value: pid, name, cmdline (regexp), pidfile, user (repeatable; all must match)")
	fl.StringVar(&mode, "mode", "one", "how many matches to hit: one, all, fixed:N, percent:N")
	fl.IntVar(&maxTargets, "max-targets", 0, "never hit more than this many targets")
	fl.Int64Var(&seed, "seed", 0, "make the pick among matches deterministic")
	fl.StringArrayVar(&params, "param", nil, "fault parameter as key=value (value read as YAML: 2, 80%, [a, b])")
	fl.StringVar(&duration, "duration", "", "how long to hold the fault (default: until Ctrl-C)")
	fl.StringVar(&f.journal, "journal", "", "write the run's journal here")
	fl.BoolVar(&f.dryRun, "dry-run", false, "resolve targets and check the machine; inject nothing")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only failures and the verdict")
	addMetricsFlags(cmd, &f)
	return cmd
}

// injectDocument builds a one-step experiment from flags, so a fault from
// the command line is validated, recorded and recovered like any other.
func injectDocument(kind string, targets, params []string, mode, duration string, maxTargets int, seeded bool, seed int64) ([]byte, error) {
	step := map[string]any{"name": kind, "fault": kind}
	if len(targets) > 0 {
		sel := map[string]any{}
		for _, kv := range targets {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("--target %q: want key=value, e.g. cmdline='backend --port 9001'", kv)
			}
			sel[k] = v
		}
		t := map[string]any{"process": sel, "mode": mode}
		if maxTargets > 0 {
			t["maxTargets"] = maxTargets
		}
		if seeded {
			t["seed"] = seed
		}
		step["target"] = t
	}
	if len(params) > 0 {
		p := map[string]any{}
		for _, kv := range params {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("--param %q: want key=value", kv)
			}
			var val any = v
			if err := yaml.Unmarshal([]byte(v), &val); err != nil || val == nil {
				val = v
			}
			p[k] = val
		}
		step["params"] = p
	}
	method := []any{step}
	reversible := true
	if k, ok := fault.Lookup(kind); ok {
		reversible = k.Info().Reversible
	}
	switch {
	case duration != "":
		step["duration"] = duration
	case reversible:
		method = append(method, map[string]any{"name": "hold until interrupted", "wait": untilInterrupted})
	}
	doc := map[string]any{
		"apiVersion": experiment.APIVersion, "kind": experiment.Kind,
		"metadata": map[string]any{"name": "inject-" + strings.NewReplacer(".", "-", "_", "-").Replace(strings.ToLower(kind))},
		"spec":     map[string]any{"method": method},
	}
	return yaml.Marshal(doc)
}
