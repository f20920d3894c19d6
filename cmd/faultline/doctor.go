package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/fault/network"
)

func newDoctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Show which fault backends work on this machine",
		Long: `Probe this machine as the network faults do (in a throwaway network
namespace: nothing on the host is touched) and print what works: root,
network namespaces, nftables, NFQUEUE, tc netem/tbf/htb, and which backend
each network fault would use here, or what it is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			caps := network.Probe()
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "running as root\t%s\t\n", yesNo(os.Geteuid() == 0, "no: the network faults need root"))
			for _, r := range caps.Report() {
				fmt.Fprintf(tw, "%s\t%s\t(%s)\n", r.Name, okOr(r.Err), r.For)
			}
			for _, bin := range []string{"iptables", "iptables-legacy", "iptables-nft", "nft", "tc", "ip"} {
				where := "not installed"
				if p, err := exec.LookPath(bin); err == nil {
					where = p
				}
				fmt.Fprintf(tw, "%s\t%s\t(not needed by faultline; shows what it did)\n", bin, where)
			}
			tw.Flush()
			fmt.Fprintln(out, "\nnetwork faults (default parameters):")
			tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			for _, c := range caps.Choices() {
				if c.Err != nil {
					fmt.Fprintf(tw, "  %s\tunavailable: %v\n", c.Kind, oneLine(c.Err))
					continue
				}
				fmt.Fprintf(tw, "  %s\t%s\n", c.Kind, c.Backend)
			}
			return tw.Flush()
		},
	}
}

func yesNo(ok bool, no string) string {
	if ok {
		return "yes"
	}
	return no
}

func okOr(err error) string {
	if err == nil {
		return "ok"
	}
	return "missing: " + oneLine(err)
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
