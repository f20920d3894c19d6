package tc

import (
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
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
	if len(o.Qdiscs) != 2 || o.Qdiscs[0].Type() != "htb" || o.Qdiscs[1].Type() != "tbf" || len(o.Classes) != 1 || len(o.Filters) != 2 {
		t.Fatalf("filtered tbf: %+v", o)
	}
	root := netlink.MakeHandle(0xfa01, 0)
	ex, match := o.Filters[0].(*netlink.U32), o.Filters[1].(*netlink.U32)
	if ex.ClassId != root || match.ClassId != netlink.MakeHandle(0xfa01, 1) {
		t.Errorf("classes: exclusion → %x, match → %x", ex.ClassId, match.ClassId)
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
	if _, err := Build(Spec{Handle: 1}, 3); err == nil {
		t.Error("a spec with neither netem nor shape was built")
	}
}

func TestHandle(t *testing.T) {
	for _, id := range []string{"a", "run-1-delay-0", "x"} {
		if h := Handle(id); h&0xff00 != 0xfa00 || Handle(id) != h {
			t.Errorf("Handle(%q) = %x", id, h)
		}
	}
}
