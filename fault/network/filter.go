package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault/network/nft"
)

// ControlPlaneEnv names the environment variable holding the control
// plane's addresses (comma-separated addresses or CIDRs): traffic to and
// from them is never faulted, so an agent cannot cut itself off the server
// that would tell it to stop. The agent sets it; an operator may too.
const ControlPlaneEnv = "FAULTLINE_CONTROL_PLANE"

// Filter limits a fault to some of the target's traffic. It is part of
// every network fault's parameters. Addresses and ports are the remote
// side's: the destination of outgoing packets, the source of incoming
// ones; localPorts are the target's own.
type Filter struct {
	Direction  string   `yaml:"direction" json:"direction,omitempty" doc:"out (packets leaving the target), in (arriving) or both"`
	Peers      []string `yaml:"peers" json:"peers,omitempty" doc:"remote addresses or CIDRs to affect (default: every address)"`
	Ports      []string `yaml:"ports" json:"ports,omitempty" doc:"remote ports or ranges (5432, 8000-8100) to affect"`
	LocalPorts []string `yaml:"localPorts" json:"localPorts,omitempty" doc:"the target's own ports or ranges to affect (a service it serves)"`
	Protocol   string   `yaml:"protocol" json:"protocol,omitempty" doc:"tcp, udp, icmp or all"`
	Exclude    []string `yaml:"exclude" json:"exclude,omitempty" doc:"remote addresses or CIDRs never affected (your own address); the control plane ($FAULTLINE_CONTROL_PLANE) always is"`
	KeepSSH    bool     `yaml:"keepSSH" json:"keepSSH" doc:"never affect the target's SSH server (local TCP port 22), so an operator's session survives"`
}

// defaultFilter is the filter of a kind whose direction defaults to dir.
func defaultFilter(dir string) Filter { return Filter{Direction: dir, Protocol: "all", KeepSSH: true} }

// match is a validated filter.
type match struct {
	out, in    bool
	peers      []netip.Prefix
	ports      []nft.Ports
	localPorts []nft.Ports
	// protos is nil for every protocol.
	protos  []uint8
	exclude []netip.Prefix
	keepSSH bool
}

// Validate implements experiment.Validator.
func (f *Filter) Validate() error {
	_, err := f.compile()
	return err
}

func (f *Filter) compile() (match, error) {
	var m match
	var errs []error
	switch f.Direction {
	case "out":
		m.out = true
	case "in":
		m.in = true
	case "both":
		m.out, m.in = true, true
	default:
		errs = append(errs, experiment.FieldErrorf("direction", "%q: use out, in or both", f.Direction))
	}
	var err error
	if m.peers, err = prefixes(f.Peers); err != nil {
		errs = append(errs, experiment.FieldErrorf("peers", "%v", err))
	}
	if m.exclude, err = prefixes(f.Exclude); err != nil {
		errs = append(errs, experiment.FieldErrorf("exclude", "%v", err))
	}
	if m.ports, err = portRanges(f.Ports); err != nil {
		errs = append(errs, experiment.FieldErrorf("ports", "%v", err))
	}
	if m.localPorts, err = portRanges(f.LocalPorts); err != nil {
		errs = append(errs, experiment.FieldErrorf("localPorts", "%v", err))
	}
	withPorts := len(m.ports) > 0 || len(m.localPorts) > 0
	switch f.Protocol {
	case "", "all":
		if withPorts {
			m.protos = []uint8{unix.IPPROTO_TCP, unix.IPPROTO_UDP}
		}
	case "tcp":
		m.protos = []uint8{unix.IPPROTO_TCP}
	case "udp":
		m.protos = []uint8{unix.IPPROTO_UDP}
	case "icmp":
		m.protos = []uint8{unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6}
		if withPorts {
			errs = append(errs, experiment.FieldErrorf("protocol", "icmp has no ports: drop ports and localPorts, or use tcp or udp"))
		}
	default:
		errs = append(errs, experiment.FieldErrorf("protocol", "%q: use tcp, udp, icmp or all", f.Protocol))
	}
	m.keepSSH = f.KeepSSH
	return m, errors.Join(errs...)
}

// prefixes parses addresses and CIDRs.
func prefixes(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR such as 10.0.0.0/8", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// portRanges parses ports and ranges ("5432", "8000-8100").
func portRanges(ss []string) ([]nft.Ports, error) {
	var out []nft.Ports
	for _, s := range ss {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b, err2 := strconv.ParseUint(hi, 10, 16)
		if err1 != nil || err2 != nil || a == 0 || b < a {
			return nil, fmt.Errorf("%q is not a port (1-65535) or a range such as 8000-8100", s)
		}
		out = append(out, nft.Ports{From: uint16(a), To: uint16(b)})
	}
	return out, nil
}

// controlPlane reads ControlPlaneEnv.
func controlPlane() ([]netip.Prefix, error) {
	v := strings.TrimSpace(os.Getenv(ControlPlaneEnv))
	if v == "" {
		return nil, nil
	}
	ps, err := prefixes(strings.Split(v, ","))
	if err != nil {
		return nil, fmt.Errorf("$%s: %w", ControlPlaneEnv, err)
	}
	return ps, nil
}

// verdictFor gives the verdict for packets of protocol proto (0: any).
type verdictFor func(proto uint8) nft.Verdict

// rules builds the rules of one chain: first what is never faulted (the
// SSH server, excluded and control-plane addresses, packets marked skip),
// then one rule per combination of peer, protocol and port range, each
// giving verdict to a per10000 share of what it matches (0: all).
func (m match) rules(h nft.Hook, iface string, skipMark uint32, never []netip.Prefix, verdict verdictFor, per10000 uint32) []nft.Rule {
	var rs []nft.Rule
	accept := nft.Verdict{Kind: nft.Accept}
	if skipMark != 0 {
		rs = append(rs, nft.Rule{Mark: skipMark, Verdict: accept})
	}
	if m.keepSSH {
		rs = append(rs, nft.Rule{Proto: unix.IPPROTO_TCP, LocalPorts: nft.Ports{From: 22, To: 22}, Verdict: accept})
	}
	for _, p := range append(append([]netip.Prefix(nil), m.exclude...), never...) {
		rs = append(rs, nft.Rule{Remote: p, Verdict: accept})
	}
	for _, c := range m.combos() {
		c.Iface, c.Per10000, c.Verdict = iface, per10000, verdict(c.Proto)
		rs = append(rs, c)
	}
	return rs
}

// combos are the matches a fault acts on: one per combination of peer,
// protocol and port range.
func (m match) combos() []nft.Rule {
	one := func(n int) int { return max(n, 1) }
	var out []nft.Rule
	for i := range one(len(m.peers)) {
		var peer netip.Prefix
		if len(m.peers) > 0 {
			peer = m.peers[i]
		}
		for j := range one(len(m.protos)) {
			var proto uint8
			if len(m.protos) > 0 {
				proto = m.protos[j]
			}
			if peer.IsValid() && (proto == unix.IPPROTO_ICMP && peer.Addr().Is6() || proto == unix.IPPROTO_ICMPV6 && peer.Addr().Is4()) {
				continue // never matches
			}
			for k := range one(len(m.ports)) {
				var rp nft.Ports
				if len(m.ports) > 0 {
					rp = m.ports[k]
				}
				for l := range one(len(m.localPorts)) {
					var lp nft.Ports
					if len(m.localPorts) > 0 {
						lp = m.localPorts[l]
					}
					out = append(out, nft.Rule{Remote: peer, Proto: proto, RemotePorts: rp, LocalPorts: lp})
				}
			}
		}
	}
	return out
}

// tables builds a fault's tables: an inet table with an output chain
// and an input chain as the direction asks; with egress, the outgoing
// rules go instead to a netdev table's egress chain on iface, where a
// drop is silent to the sender.
func (m match) tables(id, iface string, egress bool, skipMark uint32, never []netip.Prefix, verdict verdictFor, per10000 uint32) []nft.Table {
	inet := nft.Table{Name: nft.TableName(id)}
	var out []nft.Table
	if m.out && egress {
		out = append(out, nft.Table{Name: nft.TableName(id), Chains: []nft.Chain{{
			Name: "egress", Hook: nft.Egress, Device: iface, Rules: m.rules(nft.Egress, iface, skipMark, never, verdict, per10000),
		}}})
	} else if m.out {
		inet.Chains = append(inet.Chains, nft.Chain{Name: "out", Hook: nft.Output, Rules: m.rules(nft.Output, iface, skipMark, never, verdict, per10000)})
	}
	if m.in {
		inet.Chains = append(inet.Chains, nft.Chain{Name: "in", Hook: nft.Input, Rules: m.rules(nft.Input, iface, skipMark, never, verdict, per10000)})
	}
	if len(inet.Chains) > 0 {
		out = append([]nft.Table{inet}, out...)
	}
	return out
}
