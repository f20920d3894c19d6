// Package tc builds and applies the traffic-control side of the network
// faults: a netem qdisc (delay, loss, duplicate, corrupt, reorder) or a
// token bucket (bandwidth) on an interface's egress, for all of its
// traffic or, behind an HTB root with u32 filters, only for what a filter
// matches.
//
// A fault's root qdisc carries a handle derived from the fault's id, so
// recovery finds and deletes exactly it from the record alone; the
// kernel then puts the interface's default qdisc back. A root qdisc that
// someone configured (any non-default handle) is never replaced.
package tc

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Handle is the major number of fault id's root qdisc, in 0xfa00-0xfaff.
func Handle(id string) uint16 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return 0xfa00 | uint16(h.Sum32()&0xff)
}

// Netem is what a netem qdisc does; shares are percentages. It has no
// correlations: netem's skew the share of packets hit (see the network
// package's uncorrelated).
type Netem struct {
	Latency, Jitter time.Duration
	Loss            float64
	Duplicate       float64
	Corrupt         float64
	Reorder         float64
	Limit           uint32 // packets (0: defaultLimit)
}

// defaultLimit is a netem queue, in packets, that holds every packet of
// n's longest delay (latency + jitter) at up to 100,000 packets a second,
// and at least tc's 1000. Netem drops what overflows its queue: with tc's
// 1000, a 500ms delay of 4000 packets a second lost half of them. Held
// packets are the only memory it takes.
func defaultLimit(n *Netem) uint32 {
	const perSecond = 100_000
	return uint32(max(1000, min(math.MaxUint32, math.Ceil((n.Latency+n.Jitter).Seconds()*perSecond))))
}

// Shape is a token bucket: a rate with a burst and a queue limit.
type Shape struct {
	BytesPerSec uint64
	Burst       uint32 // bytes
	Limit       uint32 // bytes
}

// Match selects packets for a filtered fault: zero fields match anything.
// Ports are (value, mask) pairs so that a range becomes a few matches.
// An Exclude match is checked before the others and sends what it
// matches on unharmed.
type Match struct {
	Exclude   bool
	Remote    netip.Prefix
	Proto     uint8
	Port      PortMask // remote (destination) port
	LocalPort PortMask // local (source) port
}

// PortMask matches ports p with p&Mask == Value; a zero Mask matches all.
type PortMask struct{ Value, Mask uint16 }

// Spec is one fault's egress setup on one interface: exactly one of Netem
// or Shape, for every packet or only those matching one of Matches (in
// order: put Exclude matches first).
type Spec struct {
	Handle  uint16
	Netem   *Netem
	Shape   *Shape
	Matches []Match
}

// Objects are the netlink objects of a Spec, in the order to add them.
type Objects struct {
	Qdiscs  []netlink.Qdisc
	Classes []netlink.Class
	Filters []netlink.Filter
}

// Build turns a spec into netlink objects for the link with index link:
// without matches, the netem or tbf qdisc is the root; with matches, an
// HTB root sends unmatched packets straight on (default class 0: direct)
// and matched ones, through u32 filters, to an unlimited class whose leaf
// is the netem or tbf qdisc.
func Build(s Spec, link int) (Objects, error) {
	if (s.Netem == nil) == (s.Shape == nil) {
		return Objects{}, fmt.Errorf("a tc spec needs exactly one of netem or shape")
	}
	root := netlink.QdiscAttrs{LinkIndex: link, Handle: netlink.MakeHandle(s.Handle, 0), Parent: netlink.HANDLE_ROOT}
	if len(s.Matches) == 0 {
		if s.Netem != nil {
			return Objects{Qdiscs: []netlink.Qdisc{netemQdisc(root, s.Netem)}}, nil
		}
		return Objects{Qdiscs: []netlink.Qdisc{tbfQdisc(root, s.Shape)}}, nil
	}
	var o Objects
	htb := netlink.NewHtb(root)
	htb.Defcls = 0 // unclassified packets bypass the class
	o.Qdiscs = append(o.Qdiscs, htb)
	classID := netlink.MakeHandle(s.Handle, 1)
	const unlimited = 100e9 / 8 // bytes/s: the leaf does the work
	o.Classes = append(o.Classes, netlink.NewHtbClass(
		netlink.ClassAttrs{LinkIndex: link, Parent: root.Handle, Handle: classID},
		netlink.HtbClassAttrs{Rate: unlimited, Ceil: unlimited}))
	leaf := netlink.QdiscAttrs{LinkIndex: link, Handle: netlink.MakeHandle(s.Handle+0x100, 0), Parent: classID}
	if s.Netem != nil {
		o.Qdiscs = append(o.Qdiscs, netemQdisc(leaf, s.Netem))
	} else {
		o.Qdiscs = append(o.Qdiscs, tbfQdisc(leaf, s.Shape))
	}
	prio := uint16(0)
	for _, m := range s.Matches {
		class := classID
		if m.Exclude {
			class = root.Handle // HTB sends what is classified to the qdisc itself straight on
		}
		// A u32 filter reads one IP version's header: a match for both
		// becomes two filters, or IPv6 would bypass the fault (and the SSH
		// exclusion) entirely.
		for _, v6 := range families(m) {
			prio++
			f, err := u32Filter(link, root.Handle, class, prio, m, v6)
			if err != nil {
				return Objects{}, err
			}
			o.Filters = append(o.Filters, f)
		}
	}
	return o, nil
}

// families are the IP versions a match applies to (true: IPv6): its
// remote prefix's, else both, but only the one an ICMP protocol exists in.
func families(m Match) []bool {
	switch {
	case m.Remote.IsValid():
		return []bool{m.Remote.Addr().Is6()}
	case m.Proto == unix.IPPROTO_ICMP:
		return []bool{false}
	case m.Proto == unix.IPPROTO_ICMPV6:
		return []bool{true}
	}
	return []bool{false, true}
}

func netemQdisc(attrs netlink.QdiscAttrs, n *Netem) netlink.Qdisc {
	limit := n.Limit
	if limit == 0 {
		limit = defaultLimit(n)
	}
	return netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
		Latency: uint32(n.Latency.Microseconds()), Jitter: uint32(n.Jitter.Microseconds()),
		Limit: limit, Loss: float32(n.Loss), Duplicate: float32(n.Duplicate),
		CorruptProb: float32(n.Corrupt), ReorderProb: float32(n.Reorder),
	})
}

func tbfQdisc(attrs netlink.QdiscAttrs, s *Shape) netlink.Qdisc {
	return &netlink.Tbf{QdiscAttrs: attrs, Rate: s.BytesPerSec, Limit: s.Limit, Buffer: netlink.Xmittime(s.BytesPerSec, s.Burst)}
}

// u32Filter matches m in IPv4 packets, or IPv6 ones if v6 (u32 reads
// fixed offsets: IP options and IPv6 extension headers are not looked
// through).
func u32Filter(link int, parent, class uint32, prio uint16, m Match, v6 bool) (netlink.Filter, error) {
	var keys []netlink.TcU32Key
	key := func(off int32, val, mask uint32) {
		keys = append(keys, netlink.TcU32Key{Off: off, Val: val & mask, Mask: mask})
	}
	proto := uint16(unix.ETH_P_IP)
	portBase := int32(20) // transport header, after a 20-byte IPv4 header
	if v6 {
		proto, portBase = unix.ETH_P_IPV6, 40
	}
	if v6 && m.Remote.IsValid() {
		a := m.Remote.Addr().As16()
		mask := prefixMask16(m.Remote.Bits())
		for i := 0; i < 4; i++ {
			if mk := binary.BigEndian.Uint32(mask[4*i:]); mk != 0 {
				key(int32(24+4*i), binary.BigEndian.Uint32(a[4*i:]), mk)
			}
		}
	} else if m.Remote.IsValid() {
		a := m.Remote.Addr().As4()
		if bits := m.Remote.Bits(); bits > 0 {
			key(16, binary.BigEndian.Uint32(a[:]), math.MaxUint32<<(32-bits))
		}
	}
	if m.Proto != 0 {
		if proto == unix.ETH_P_IPV6 {
			key(4, uint32(m.Proto)<<8, 0x0000ff00) // next header, byte 6
		} else {
			key(8, uint32(m.Proto)<<16, 0x00ff0000) // protocol, byte 9
		}
	}
	if m.Port.Mask != 0 || m.LocalPort.Mask != 0 {
		if m.Proto != unix.IPPROTO_TCP && m.Proto != unix.IPPROTO_UDP {
			return nil, fmt.Errorf("a port match needs tcp or udp")
		}
		// Source port in the high half of the first word, destination in
		// the low half.
		key(portBase, uint32(m.LocalPort.Value)<<16|uint32(m.Port.Value), uint32(m.LocalPort.Mask)<<16|uint32(m.Port.Mask))
	}
	if len(keys) == 0 {
		keys = append(keys, netlink.TcU32Key{}) // match all
	}
	return &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: link, Parent: parent, Priority: prio, Protocol: proto},
		ClassId:     class,
		Sel:         &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Keys: keys},
	}, nil
}

func prefixMask16(bits int) [16]byte {
	var m [16]byte
	for i := range m {
		switch {
		case bits >= 8:
			m[i], bits = 0xff, bits-8
		case bits > 0:
			m[i], bits = byte(0xff<<(8-bits)), 0
		}
	}
	return m
}

// PortMasks covers the inclusive range [from, to] with (value, mask)
// blocks, as u32 matches ports.
func PortMasks(from, to uint16) []PortMask {
	var out []PortMask
	lo, hi := uint32(from), uint32(to)
	for lo <= hi {
		size := uint32(1)
		for lo&(size*2-1) == 0 && lo+size*2-1 <= hi && size < 1<<16 {
			size *= 2
		}
		out = append(out, PortMask{Value: uint16(lo), Mask: uint16(^(size - 1))})
		lo += size
	}
	return out
}
