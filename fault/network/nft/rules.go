// Package nft builds and applies the nftables rules of the network faults.
//
// Each fault owns one table, inet faultline-<fault id>, with an output and
// an input base chain: applying it is one atomic batch, and recovery
// deletes the table — exactly what the fault added, and nothing another
// fault or the host's own firewall holds. The rules are described by the
// small Rule type, rendered in nft's syntax for humans and tests, and
// turned into netlink expressions by a pure function.
package nft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// TablePrefix starts the name of every table faultline makes.
const TablePrefix = "faultline-"

// TableName is the table of fault id.
func TableName(id string) string { return TablePrefix + id }

// Hook is where a chain sees packets: leaving (output) or arriving
// (input) at this host or namespace, in the inet family; or, in the netdev
// family, about to leave one interface (egress), past routing and the
// socket: a packet dropped there is lost silently, as on a wire, where
// a drop on output makes the sending call fail with EPERM.
type Hook string

// The hooks the faults use.
const (
	Output Hook = "output"
	Input  Hook = "input"
	Egress Hook = "egress"
)

// Table is one fault's table in one family: inet for output and input
// chains, netdev for egress chains.
type Table struct {
	Name   string
	Chains []Chain
}

// Netdev reports whether the table is of the netdev family (its chains
// are on the egress hook).
func (t Table) Netdev() bool { return len(t.Chains) > 0 && t.Chains[0].Hook == Egress }

// Chain is a base chain on a hook, accepting by default. An egress chain
// names its Device.
type Chain struct {
	Name   string
	Hook   Hook
	Device string
	Rules  []Rule
}

// VerdictKind is what a matching rule does with a packet.
type VerdictKind string

// The verdicts.
const (
	Accept VerdictKind = "accept"
	Drop   VerdictKind = "drop"
	// ResetTCP answers with a TCP reset (the rule must match tcp).
	ResetTCP VerdictKind = "reject with tcp reset"
	// Unreachable answers with ICMP (v4 or v6) port unreachable.
	Unreachable VerdictKind = "reject with icmpx type port-unreachable"
	// Queue hands the packet to a userspace NFQUEUE reader; with no
	// reader bound the packet passes (bypass).
	Queue VerdictKind = "queue"
)

// Verdict is a rule's action.
type Verdict struct {
	Kind VerdictKind
	// QueueNum is the NFQUEUE number of a Queue verdict.
	QueueNum uint16
}

func (v Verdict) String() string {
	if v.Kind == Queue {
		return fmt.Sprintf("queue num %d bypass", v.QueueNum)
	}
	return string(v.Kind)
}

// Ports is an inclusive port range; the zero value matches any port.
type Ports struct{ From, To uint16 }

// Any reports whether the range matches every port.
func (p Ports) Any() bool { return p.From == 0 && p.To == 0 }

func (p Ports) String() string {
	if p.From == p.To {
		return fmt.Sprint(p.From)
	}
	return fmt.Sprintf("%d-%d", p.From, p.To)
}

// Rule matches packets and gives them a verdict. Its fields are read from
// the point of view of the hook: Remote is the destination of an output
// packet and the source of an input packet; RemotePorts and LocalPorts
// likewise. Zero fields match everything.
type Rule struct {
	// Iface is the output interface on Output, the input one on Input.
	Iface string
	// Mark matches the packet mark exactly.
	Mark uint32
	// Remote is the other end's address prefix.
	Remote netip.Prefix
	// Proto is the layer-4 protocol (unix.IPPROTO_TCP, …).
	Proto       uint8
	RemotePorts Ports
	LocalPorts  Ports
	// Per10000 applies the verdict to this share of the matching packets,
	// drawn at random (0: to all).
	Per10000 uint32
	Verdict  Verdict
}

var protoNames = map[uint8]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp", unix.IPPROTO_ICMP: "icmp", unix.IPPROTO_ICMPV6: "ipv6-icmp"}

// ProtoName names a protocol as nft does.
func ProtoName(p uint8) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return fmt.Sprint(p)
}

// Render writes the rule in nft's syntax as it reads on hook h.
func (r Rule) Render(h Hook) string {
	var b []string
	raddr, ifname, rport, lport := "daddr", "oifname", "dport", "sport"
	if h == Input {
		raddr, ifname, rport, lport = "saddr", "iifname", "sport", "dport"
	}
	if r.Iface != "" && h != Egress {
		b = append(b, fmt.Sprintf("%s %q", ifname, r.Iface))
	}
	if r.Mark != 0 {
		b = append(b, fmt.Sprintf("meta mark 0x%08x", r.Mark))
	}
	if r.Remote.IsValid() {
		fam := "ip"
		if r.Remote.Addr().Is6() {
			fam = "ip6"
		}
		b = append(b, fmt.Sprintf("%s %s %s", fam, raddr, r.Remote))
	}
	if r.Proto != 0 {
		b = append(b, "meta l4proto "+ProtoName(r.Proto))
	}
	if !r.RemotePorts.Any() {
		b = append(b, "th "+rport+" "+r.RemotePorts.String())
	}
	if !r.LocalPorts.Any() {
		b = append(b, "th "+lport+" "+r.LocalPorts.String())
	}
	if r.Per10000 != 0 {
		b = append(b, fmt.Sprintf("numgen random mod 10000 < %d", r.Per10000))
	}
	b = append(b, r.Verdict.String())
	return strings.Join(b, " ")
}

// Render writes the whole table in nft's syntax.
func (t Table) Render() string {
	var b strings.Builder
	family := "inet"
	if t.Netdev() {
		family = "netdev"
	}
	fmt.Fprintf(&b, "table %s %s {\n", family, t.Name)
	for _, c := range t.Chains {
		dev := ""
		if c.Hook == Egress {
			dev = fmt.Sprintf(" device %q", c.Device)
		}
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s%s priority filter; policy accept;\n", c.Name, c.Hook, dev)
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "\t\t%s\n", r.Render(c.Hook))
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// Exprs turns the rule into netlink expressions for a chain on hook h.
func (r Rule) Exprs(h Hook) ([]expr.Any, error) {
	var e []expr.Any
	cmpEq := func(data []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data} }
	if r.Iface != "" && h != Egress { // an egress chain is bound to its device
		key := expr.MetaKeyOIFNAME
		if h == Input {
			key = expr.MetaKeyIIFNAME
		}
		name := make([]byte, unix.IFNAMSIZ)
		if len(r.Iface) >= unix.IFNAMSIZ {
			return nil, fmt.Errorf("interface name %q is too long", r.Iface)
		}
		copy(name, r.Iface)
		e = append(e, &expr.Meta{Key: key, Register: 1}, cmpEq(name))
	}
	if r.Mark != 0 {
		e = append(e, &expr.Meta{Key: expr.MetaKeyMARK, Register: 1}, cmpEq(binary.NativeEndian.AppendUint32(nil, r.Mark)))
	}
	if r.Remote.IsValid() {
		p := r.Remote.Masked()
		nfproto, off := byte(unix.NFPROTO_IPV4), uint32(16) // ip daddr
		if h == Input {
			off = 12 // ip saddr
		}
		if p.Addr().Is6() {
			nfproto, off = unix.NFPROTO_IPV6, 24
			if h == Input {
				off = 8
			}
		}
		addr := p.Addr().AsSlice()
		mask := prefixMask(len(addr), p.Bits())
		family := []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, cmpEq([]byte{nfproto})}
		if h == Egress { // netdev: the ethertype
			etype := uint16(unix.ETH_P_IP)
			if p.Addr().Is6() {
				etype = unix.ETH_P_IPV6
			}
			family = []expr.Any{&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1}, cmpEq(binary.BigEndian.AppendUint16(nil, etype))}
		}
		e = append(e, family...)
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(len(addr))},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(addr)), Mask: mask, Xor: make([]byte, len(addr))},
			cmpEq(addr))
	}
	if r.Proto != 0 {
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpEq([]byte{r.Proto}))
	}
	for _, pm := range []struct {
		ports  Ports
		remote bool
	}{{r.RemotePorts, true}, {r.LocalPorts, false}} {
		if pm.ports.Any() {
			continue
		}
		if r.Proto != unix.IPPROTO_TCP && r.Proto != unix.IPPROTO_UDP {
			return nil, fmt.Errorf("a port match needs tcp or udp, not protocol %s", ProtoName(r.Proto))
		}
		// The destination port is at offset 2 of the transport header.
		dport := pm.remote == (h != Input)
		off := uint32(0)
		if dport {
			off = 2
		}
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2})
		from, to := binary.BigEndian.AppendUint16(nil, pm.ports.From), binary.BigEndian.AppendUint16(nil, pm.ports.To)
		if pm.ports.From == pm.ports.To {
			e = append(e, cmpEq(from))
		} else {
			e = append(e,
				&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: from},
				&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: to})
		}
	}
	if r.Per10000 != 0 {
		e = append(e,
			&expr.Numgen{Register: 1, Modulus: 10000, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binary.BigEndian.AppendUint32(nil, r.Per10000)})
	}
	e = append(e, &expr.Counter{})
	switch r.Verdict.Kind {
	case Accept:
		e = append(e, &expr.Verdict{Kind: expr.VerdictAccept})
	case Drop:
		e = append(e, &expr.Verdict{Kind: expr.VerdictDrop})
	case ResetTCP:
		if r.Proto != unix.IPPROTO_TCP {
			return nil, fmt.Errorf("a tcp reset needs the rule to match tcp")
		}
		e = append(e, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	case Unreachable:
		e = append(e, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH})
	case Queue:
		e = append(e, QueueTarget(r.Verdict.QueueNum))
	default:
		return nil, fmt.Errorf("unknown verdict %q", r.Verdict.Kind)
	}
	return e, nil
}

// QueueTarget is the xtables NFQUEUE target (revision 3) with the bypass
// flag, used through nftables' compat layer as iptables-nft does: this
// works on kernels without nft's own queue expression (CONFIG_NFT_QUEUE).
func QueueTarget(num uint16) *expr.Target {
	// struct xt_NFQ_info_v3 { __u16 queuenum, queues_total, flags; },
	// padded to 8 bytes (XT_ALIGN).
	info := make(xt.Unknown, 8)
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1) // one queue
	binary.NativeEndian.PutUint16(info[4:], 1) // NFQ_FLAG_BYPASS
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}

func prefixMask(n, bits int) []byte {
	m := make([]byte, n)
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return m
}

// hooknum maps a Hook to nftables'.
func hooknum(h Hook) *nftables.ChainHook {
	switch h {
	case Input:
		return nftables.ChainHookInput
	case Egress:
		return nftables.ChainHookEgress
	}
	return nftables.ChainHookOutput
}
