package network_test

import (
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/faulttest"
	"github.com/faultline-dev/faultline/fault/network"
	"github.com/faultline-dev/faultline/fault/network/tc"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/target"
)

// TestConformance runs the suite every kind passes, each kind in a
// namespace of its own: inject then recover leaves it as found,
// recovering twice is a no-op, and recovery works with a cancelled
// context, from the record read back from JSON, from the record as
// written before Inject and for a fault never injected. The effect is
// observed in the namespace itself: the fault's nft table, its qdisc, its
// worker process.
func TestConformance(t *testing.T) {
	needRoot(t)
	out := filter("out")
	for _, c := range []struct {
		kind   string
		params any
	}{
		{"network.delay", &network.DelayParams{Latency: experiment.Duration(20e6), Backend: network.Auto, Filter: out}},
		{"network.loss", &network.LossParams{Loss: 10, Backend: network.Auto, Filter: out}},
		{"network.corrupt", &network.CorruptParams{Corrupt: 5, Backend: network.Auto, Filter: out}},
		{"network.duplicate", &network.DuplicateParams{Duplicate: 5, Backend: network.Auto, Filter: out}},
		{"network.reorder", &network.ReorderParams{Reorder: 5, Delay: experiment.Duration(10e6), Backend: network.Auto, Filter: out}},
		{"network.bandwidth", &network.BandwidthParams{Rate: 1e6, Filter: out}},
		{"network.partition", &network.PartitionParams{Filter: filter("both", "192.0.2.0/24")}},
		{"network.blackhole", &network.BlackholeParams{Filter: network.Filter{Direction: "both", Protocol: "tcp", Ports: []string{"5432"}, KeepSSH: true}}},
		{"network.reject", &network.RejectParams{With: "auto", Filter: network.Filter{Direction: "out", Protocol: "all", Ports: []string{"5432"}, KeepSSH: true}}},
		{"network.dns", &network.DNSParams{Names: []string{"db.test"}, Address: "192.0.2.1", TTL: 5}},
	} {
		t.Run(c.kind, func(t *testing.T) {
			l := newLab(t)
			faulttest.Run(t, faulttest.Case{
				Kind:   c.kind,
				Params: func(*testing.T) any { return c.params },
				Target: func(*testing.T) target.Target { return l.target() },
				Applied: func(t *testing.T, rec *fault.Record) bool {
					return hasTable(t, l.nsA, rec.ID) || hasQdisc(t, l, rec.ID) || hasWorker(t, rec.ID)
				},
			})
		})
	}
}

// hasQdisc reports whether a's interface to b has the fault's root qdisc.
func hasQdisc(t *testing.T, l *lab, id string) bool {
	t.Helper()
	h, err := netlink.NewHandleAt(netns.NsHandle(l.nsA.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByName(l.aToB)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := h.QdiscList(link)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if major, _ := netlink.MajorMinor(q.Attrs().Handle); major == tc.Handle(id) && q.Attrs().Parent == netlink.HANDLE_ROOT {
			return true
		}
	}
	return false
}

// hasWorker reports whether a process tagged with the fault's id runs.
func hasWorker(t *testing.T, id string) bool {
	t.Helper()
	ps, err := procfs.FindByEnv(fault.TagEnv, id)
	if err != nil {
		t.Fatal(err)
	}
	return len(ps) > 0
}
