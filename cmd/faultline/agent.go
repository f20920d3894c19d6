package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/agent"
	"github.com/faultline-dev/faultline/fault/network"
	"github.com/faultline-dev/faultline/ledger"
)

func newAgentCmd() *cobra.Command {
	var cfg agent.Config
	cmd := &cobra.Command{
		Use:   "agent --server URL --token T [--labels zone=a,role=db]",
		Short: "Run the experiments the control plane assigns to this host",
		Long: `Register this host with a faultline server and run the experiments it
assigns, with the same engine and fault kinds as 'faultline run' and a ledger
of its own (STATE-DIR/ledger.jsonl).

Faults are held under a lease from the server: when the agent cannot reach
the server for the lease, it halts its runs itself and every fault is
recovered. Restarted after a crash, it first recovers what its ledger holds
open. SIGINT or SIGTERM halts every run, recovers every fault, and stops.

The token is an agent token issued for this agent's name (--name, default the
hostname): POST /api/v1/tokens {"name": "…", "role": "agent", "agent": "NAME"}.
It may also be given in $FAULTLINE_AGENT_TOKEN (a command line is visible to
every user of the host).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Token == "" {
				cfg.Token = os.Getenv("FAULTLINE_AGENT_TOKEN")
			}
			if cmd.Flags().Changed("ledger") {
				return usageError(errors.New("the agent keeps its own ledger in --state-dir; --ledger does not apply"))
			}
			if cfg.Server == "" || cfg.Token == "" {
				return usageError(errors.New("--server and --token (or $FAULTLINE_AGENT_TOKEN) are required"))
			}
			stderr := cmd.ErrOrStderr()
			cfg.Features = append(agent.DetectFeatures(), networkFeatures(network.Probe())...)
			cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			a, err := agent.New(cfg)
			if err != nil {
				return usageError(err)
			}
			ctx, halt := context.WithCancel(cmd.Context())
			defer halt()
			defer haltOnSignals(stderr, halt)()
			if err := a.Run(ctx); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Server, "server", "", "the faultline server's URL (http://host:7400)")
	f.StringVar(&cfg.Token, "token", "", "API token with the agent role, issued for --name (default $FAULTLINE_AGENT_TOKEN)")
	f.StringToStringVar(&cfg.Labels, "labels", nil, "labels the server selects agents by (zone=a,role=db)")
	f.StringVar(&cfg.Name, "name", "", "the agent's name, unique per agent (default the hostname)")
	f.StringVar(&cfg.StateDir, "state-dir", filepath.Join(ledger.StateDir(), "agent"), "directory of the agent's ledger; one agent per directory")
	f.DurationVar(&cfg.LeaseGrace, "lease-grace", time.Second, "halt runs this long before the server's lease runs out, so faults are recovered by then (never earlier than half the lease)")
	return cmd
}

// networkFeatures names the network mechanisms that work here, as
// `faultline doctor` finds them, for the agent's feature list.
func networkFeatures(c network.Caps) []string {
	var out []string
	for _, m := range []struct {
		name string
		err  error
	}{
		{"netns", c.Netns}, {"nftables", c.NFT}, {"nftables-egress", c.Egress}, {"nftables-reject", c.Reject},
		{"nfqueue", c.NFQueue}, {"netem", c.Netem}, {"tbf", c.TBF}, {"htb", c.HTB},
	} {
		if c.NetAdmin == nil && m.err == nil {
			out = append(out, m.name)
		}
	}
	return out
}
