// Package network holds the kernel-level network faults: network.delay,
// network.loss, network.corrupt, network.duplicate, network.reorder,
// network.bandwidth, network.partition, network.blackhole, network.reject
// and network.dns. They act on a host's interface, a named network
// namespace, or the namespace of a process, limited by a filter (peers,
// ports, protocol, direction) that also never touches the target's SSH
// server, excluded addresses or the control plane.
//
// Each fault picks a backend at run time by probing the kernel (see
// Caps): nftables rules in a table of its own (partition, blackhole,
// reject, independent random loss); tc netem where the kernel has it; tc
// tbf/htb for bandwidth; and, where netem is missing, an NFQUEUE rule in
// that table feeding a userspace worker (package nfq) that delays, drops,
// duplicates, corrupts, reorders packets and forges DNS answers. The
// worker is this binary re-executed in the target's namespace, tagged
// with the fault's id, and it stops when faultline dies (its queue rules
// then let packets pass).
//
// Recovery needs only the record: it deletes the table named after the
// fault (nft.TableName), the root qdisc whose handle derives from the
// fault's id (tc.Handle) and the processes tagged with it. When the target
// cannot be reached any more, every namespace of the host is searched.
package network

import (
	"context"
	"math"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/network/nfq"
	"github.com/faultline-dev/faultline/fault/network/nft"
	"github.com/faultline-dev/faultline/fault/network/tc"
	"github.com/faultline-dev/faultline/target"
)

var targets = []target.Type{target.Host, target.Netns, target.Process}

var needs = []string{"root (CAP_NET_ADMIN)", "a backend this kernel has: see `faultline doctor`"}

// defaultPlans are each kind's plan with its default parameters, for
// Caps.Choices.
var defaultPlans = map[string]func() plan{}

// register registers a kind whose parameters P become a plan.
func register[P any](name, summary string, defaults func() P, toPlan func(*P) plan) {
	defaultPlans[name] = func() plan { p := defaults(); return toPlan(&p) }
	fault.Register(fault.Def[P]{
		Name: name, Summary: summary, Targets: targets, Reversible: true, Needs: needs,
		Defaults: defaults,
		Preflight: func(_ context.Context, p *P, rec *fault.Record) error {
			return preflight(name, toPlan(p), rec)
		},
		Inject: func(ctx context.Context, p *P, rec *fault.Record) error {
			return inject(ctx, name, toPlan(p), rec)
		},
		Recover: func(ctx context.Context, _ *P, rec *fault.Record) error {
			return recoverFault(ctx, rec)
		},
	})
}

// share turns a percentage into a fraction.
func share(p experiment.Percent) float64 { return float64(p) / 100 }

func init() {
	register("network.delay", "Delay packets: latency, jitter, correlation (netem, or an nfqueue worker, which alone does correlation)",
		func() DelayParams { return DelayParams{Backend: Auto, Filter: defaultFilter("out")} },
		func(p *DelayParams) plan {
			return plan{filter: p.Filter, want: p.Backend, candidates: uncorrelated(p.Correlation, Netem, NFQueue),
				netem:  &tc.Netem{Latency: p.Latency.D(), Jitter: p.Jitter.D()},
				worker: &nfq.Config{Delay: p.Latency.D(), Jitter: p.Jitter.D(), DelayCorr: share(p.Correlation)}}
		})
	register("network.loss", "Drop a share of packets (nftables or netem; an nfqueue worker for correlated loss)",
		func() LossParams { return LossParams{Backend: Auto, Filter: defaultFilter("out")} },
		func(p *LossParams) plan {
			return plan{filter: p.Filter, want: p.Backend, candidates: uncorrelated(p.Correlation, NFT, Netem, NFQueue),
				verdict: drop, per10000: uint32(math.Round(float64(p.Loss) * 100)), silentDrop: true,
				netem:  &tc.Netem{Loss: float64(p.Loss)},
				worker: &nfq.Config{Loss: share(p.Loss), LossCorr: share(p.Correlation)}}
		})
	register("network.corrupt", "Flip one bit in a share of packets (netem, or an nfqueue worker that can also fix checksums)",
		func() CorruptParams { return CorruptParams{Backend: Auto, Filter: defaultFilter("out")} },
		func(p *CorruptParams) plan {
			cands := uncorrelated(p.Correlation, Netem, NFQueue)
			if p.FixChecksum {
				cands = []Backend{NFQueue}
			}
			return plan{filter: p.Filter, want: p.Backend, candidates: cands,
				netem:  &tc.Netem{Corrupt: float64(p.Corrupt)},
				worker: &nfq.Config{Corrupt: share(p.Corrupt), CorruptCorr: share(p.Correlation), FixChecksum: p.FixChecksum}}
		})
	register("network.duplicate", "Send a share of outgoing packets twice (netem, or an nfqueue worker)",
		func() DuplicateParams { return DuplicateParams{Backend: Auto, Filter: defaultFilter("out")} },
		func(p *DuplicateParams) plan {
			return plan{filter: p.Filter, want: p.Backend, candidates: uncorrelated(p.Correlation, Netem, NFQueue),
				netem:  &tc.Netem{Duplicate: float64(p.Duplicate)},
				worker: &nfq.Config{Duplicate: share(p.Duplicate), DuplicateCorr: share(p.Correlation)}}
		})
	register("network.reorder", "Hold back a share of packets so later ones overtake them (netem, or an nfqueue worker)",
		func() ReorderParams {
			return ReorderParams{Backend: Auto, Delay: experiment.Duration(10e6), Filter: defaultFilter("out")}
		},
		func(p *ReorderParams) plan {
			return plan{filter: p.Filter, want: p.Backend, candidates: uncorrelated(p.Correlation, Netem, NFQueue),
				// netem sends `reorder` of the packets at once and delays the
				// rest: the held-back share is its complement.
				netem:  &tc.Netem{Latency: p.Delay.D(), Reorder: 100 - float64(p.Reorder)},
				worker: &nfq.Config{Reorder: share(p.Reorder), ReorderCorr: share(p.Correlation), Hold: p.Delay.D()}}
		})
	register("network.bandwidth", "Limit the rate of outgoing packets: rate, burst, queue limit (tc tbf, or htb with filters)",
		func() BandwidthParams { return BandwidthParams{Filter: defaultFilter("out")} },
		func(p *BandwidthParams) plan {
			return plan{filter: p.Filter, want: Auto, candidates: []Backend{TBF}, shape: shapeOf(p)}
		})
	register("network.partition", "Drop every packet to and from peers (nftables)",
		func() PartitionParams { return PartitionParams{Filter: defaultFilter("both")} },
		func(p *PartitionParams) plan {
			return plan{filter: p.Filter, want: Auto, candidates: []Backend{NFT}, verdict: drop, silentDrop: true}
		})
	register("network.blackhole", "Silently drop traffic to chosen ports or addresses (nftables)",
		func() BlackholeParams { return BlackholeParams{Filter: defaultFilter("both")} },
		func(p *BlackholeParams) plan {
			return plan{filter: p.Filter, want: Auto, candidates: []Backend{NFT}, verdict: drop, silentDrop: true}
		})
	register("network.reject", "Refuse connections: TCP reset or ICMP port unreachable (nftables)",
		func() RejectParams { return RejectParams{With: "auto", Filter: defaultFilter("out")} },
		func(p *RejectParams) plan {
			pl := plan{filter: p.Filter, want: Auto, candidates: []Backend{NFT}, verdict: rejectWith(p.With)}
			if p.With == "auto" && (p.Protocol == "" || p.Protocol == "all") {
				pl.forceProtos = []uint8{unix.IPPROTO_TCP, 0} // resets for TCP first, ICMP for the rest
			}
			return pl
		})
	register("network.dns", "Answer DNS queries for chosen names wrongly, or fail them (an nfqueue worker rewrites answers)",
		func() DNSParams { return DNSParams{TTL: 5} },
		func(p *DNSParams) plan {
			f := Filter{Direction: "in", Peers: p.Servers, Ports: []string{"53"}, Protocol: "udp"}
			return plan{filter: f, want: Auto, candidates: []Backend{NFQueue},
				worker: &nfq.Config{DNS: &nfq.DNS{Names: p.Names, Address: p.Address, Fail: p.Fail, TTL: p.TTL}}}
		})
}

// uncorrelated is the candidates that can draw with correlation c: with
// none, all of them; with one, only the nfqueue worker. nft draws each
// packet independently, and netem's correlated draws skew the share hit:
// under Debian's Linux 6.1, netem's "loss 20% 50%" dropped 3.4% of the
// packets, where the worker's draws keep the share asked for.
func uncorrelated(c experiment.Percent, candidates ...Backend) []Backend {
	if c == 0 {
		return candidates
	}
	return []Backend{NFQueue}
}

func drop(uint8) nft.Verdict { return nft.Verdict{Kind: nft.Drop} }

func rejectWith(with string) verdictFor {
	return func(proto uint8) nft.Verdict {
		if with == "tcp-reset" || with == "auto" && proto == unix.IPPROTO_TCP {
			return nft.Verdict{Kind: nft.ResetTCP}
		}
		return nft.Verdict{Kind: nft.Unreachable}
	}
}

// shapeOf fills in the burst (10ms worth, at least 3 full-size packets)
// and the limit (400ms worth, at least the burst) tc would want.
func shapeOf(p *BandwidthParams) *tc.Shape {
	bps := p.Rate.BytesPerSecond()
	burst := uint64(p.Burst)
	if burst == 0 {
		burst = max(bps/100, 3*1514)
	}
	limit := uint64(p.Limit)
	if limit == 0 {
		limit = max(bps*4/10, burst)
	}
	return &tc.Shape{BytesPerSec: bps, Burst: uint32(min(burst, math.MaxUint32)), Limit: uint32(min(limit, math.MaxUint32))}
}
