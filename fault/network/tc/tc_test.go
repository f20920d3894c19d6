package tc

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestPortMasks(t *testing.T) {
	for _, tc := range []struct {
		from, to uint16
		want     []PortMask
	}{
		{80, 80, []PortMask{{80, 0xffff}}},
		{8000, 8003, []PortMask{{8000, 0xfffc}}},
		{8001, 8004, []PortMask{{8001, 0xffff}, {8002, 0xfffe}, {8004, 0xffff}}},
		{0, 65535, []PortMask{{0, 0}}},
	} {
		got := PortMasks(tc.from, tc.to)
		if len(got) != len(tc.want) {
			t.Fatalf("%d-%d: %v, want %v", tc.from, tc.to, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%d-%d: %v, want %v", tc.from, tc.to, got, tc.want)
			}
		}
	}
}

// TestBuild checks the shapes of the qdisc trees: a bare root without
// matches, an HTB root with a class, a leaf and u32 filters (exclusions
// sent to the root itself, i.e. straight on) with them.
func TestBuild(t *testing.T) {
	o, err := Build(Spec{Handle: 0xfa01, Netem: &Netem{Latency: 1e8}}, 3)
	if err != nil || len(o.Qdiscs) != 1 || o.Qdiscs[0].Type() != "netem" || len(o.Filters) != 0 {
		t.Fatalf("unfiltered netem: %+v %v", o, err)
	}
	o, err = Build(Spec{Handle: 0xfa01, Shape: &Shape{BytesPerSec: 125000, Burst: 4096, Limit: 50000}, Matches: []Match{
		{Exclude: true, Proto: 6, LocalPort: PortMask{22, 0xffff}},
		{Remote: netip.MustParsePrefix("10.1.0.0/16"), Proto: 17, Port: PortMask{53, 0xffff}},
	}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The exclusion names no address: one filter per IP version.
	if len(o.Qdiscs) != 2 || o.Qdiscs[0].Type() != "htb" || o.Qdiscs[1].Type() != "tbf" || len(o.Classes) != 1 || len(o.Filters) != 3 {
		t.Fatalf("filtered tbf: %+v", o)
	}
	root := netlink.MakeHandle(0xfa01, 0)
	ex4, ex6, match := o.Filters[0].(*netlink.U32), o.Filters[1].(*netlink.U32), o.Filters[2].(*netlink.U32)
	if ex4.ClassId != root || ex6.ClassId != root || match.ClassId != netlink.MakeHandle(0xfa01, 1) {
		t.Errorf("classes: exclusions → %x %x, match → %x", ex4.ClassId, ex6.ClassId, match.ClassId)
	}
	if ex4.Protocol != unix.ETH_P_IP || ex6.Protocol != unix.ETH_P_IPV6 || match.Protocol != unix.ETH_P_IP {
		t.Errorf("protocols: exclusions %#x %#x, match %#x", ex4.Protocol, ex6.Protocol, match.Protocol)
	}
	if ex4.Priority != 1 || ex6.Priority != 2 || match.Priority != 3 {
		t.Errorf("priorities %d %d %d, want 1 2 3 (exclusions first)", ex4.Priority, ex6.Priority, match.Priority)
	}
	// The IPv6 SSH exclusion reads the ports after the 40-byte header.
	want6 := []netlink.TcU32Key{{Off: 4, Val: 6 << 8, Mask: 0x0000ff00}, {Off: 40, Val: 22 << 16, Mask: 0xffff0000}}
	if !slices.Equal(ex6.Sel.Keys, want6) {
		t.Errorf("IPv6 exclusion keys %+v, want %+v", ex6.Sel.Keys, want6)
	}
	want := []netlink.TcU32Key{{Off: 16, Val: 0x0a010000, Mask: 0xffff0000}, {Off: 8, Val: 17 << 16, Mask: 0x00ff0000}, {Off: 20, Val: 53, Mask: 0x0000ffff}}
	if len(match.Sel.Keys) != len(want) {
		t.Fatalf("keys %+v, want %+v", match.Sel.Keys, want)
	}
	for i := range want {
		if match.Sel.Keys[i] != want[i] {
			t.Errorf("key %d: %+v, want %+v", i, match.Sel.Keys[i], want[i])
		}
	}
	// ICMP exists in IPv4 only, ICMPv6 in IPv6 only: one filter each.
	o, err = Build(Spec{Handle: 0xfa01, Netem: &Netem{Latency: 1e8}, Matches: []Match{{Proto: unix.IPPROTO_ICMP}, {Proto: unix.IPPROTO_ICMPV6}}}, 3)
	if err != nil || len(o.Filters) != 2 || o.Filters[0].Attrs().Protocol != unix.ETH_P_IP || o.Filters[1].Attrs().Protocol != unix.ETH_P_IPV6 {
		t.Errorf("ICMP matches: %+v %v", o.Filters, err)
	}
	if _, err := Build(Spec{Handle: 1}, 3); err == nil {
		t.Error("a spec with neither netem nor shape was built")
	}
}

// TestNetemLimit checks the netem queue holds a long delay's packets: tc's
// default of 1000 would drop half of 4000 packets a second delayed 500ms.
func TestNetemLimit(t *testing.T) {
	for _, c := range []struct {
		n    Netem
		want uint32
	}{
		{Netem{Latency: time.Millisecond}, 1000},
		{Netem{}, 1000},
		{Netem{Latency: 500 * time.Millisecond}, 50000},
		{Netem{Latency: 100 * time.Millisecond, Jitter: 50 * time.Millisecond}, 15000},
		{Netem{Latency: 500 * time.Millisecond, Limit: 200}, 200},
	} {
		o, err := Build(Spec{Handle: 0xfa01, Netem: &c.n}, 3)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.Qdiscs[0].(*netlink.Netem).Limit; got != c.want {
			t.Errorf("%+v: limit %d, want %d", c.n, got, c.want)
		}
	}
}

func TestHandle(t *testing.T) {
	for _, id := range []string{"a", "run-1-delay-0", "x"} {
		if h := Handle(id); h&0xff00 != 0xfa00 || Handle(id) != h {
			t.Errorf("Handle(%q) = %x", id, h)
		}
	}
}
