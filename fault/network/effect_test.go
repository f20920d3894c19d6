package network_test

import (
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault/network"
)

func filter(dir string, peers ...string) network.Filter {
	return network.Filter{Direction: dir, Protocol: "all", KeepSSH: true, Peers: peers}
}

// TestDelay adds 50ms on a's way out to b, through each backend this
// kernel has, and measures the added round-trip time over 200 trips.
func TestDelay(t *testing.T) {
	for _, backend := range []network.Backend{network.NFQueue} {
		t.Run(string(backend), func(t *testing.T) {
			l := newLab(t)
			udpEcho(t, l.nsB, l.addrB+":7")
			c := udpClient(t, l.nsA, l.addrB+":7")
			base := median(rtts(t, c, 50, time.Second))
			const want = 50 * time.Millisecond
			rec := inject(t, "network.delay", &network.DelayParams{Latency: experiment.Duration(want), Backend: backend, Filter: filter("out")}, l.target())
			rs := rtts(t, c, 200, time.Second)
			if len(rs) < 195 {
				t.Fatalf("%d of 200 round trips came back", len(rs))
			}
			added := median(rs) - base
			within(t, "added RTT (ms)", float64(added)/1e6, float64(want)/1e6, float64(want)/1e6*0.10)
			recoverFault(t, rec)
			after := median(rtts(t, c, 50, time.Second))
			if after > base+5*time.Millisecond {
				t.Errorf("RTT after recovery %v, before %v", after, base)
			}
		})
	}
}

// TestLoss drops 20% of a's packets to b and counts the echoes of 4000.
func TestLoss(t *testing.T) {
	for _, backend := range []network.Backend{network.NFT, network.NFQueue} {
		t.Run(string(backend), func(t *testing.T) {
			l := newLab(t)
			c := echoPath(t, l)
			inject(t, "network.loss", &network.LossParams{Loss: 20, Backend: backend, Filter: filter("out")}, l.target())
			s := echoBurst(t, c, 4000, 32, 4000)
			within(t, "loss (%)", 100*float64(s.sent-s.back)/float64(s.sent), 20, 3)
		})
	}
}

// TestPartition cuts a off from b only: c still answers, and b answers
// again after recovery.
func TestPartition(t *testing.T) {
	l := newLab(t)
	udpEcho(t, l.nsB, l.addrB+":7")
	udpEcho(t, l.nsC, l.addrC+":7")
	toB := udpClient(t, l.nsA, l.addrB+":7")
	toC := udpClient(t, l.nsA, l.addrC+":7")
	tgt := l.target()
	tgt.Interface = l.aToB
	rec := inject(t, "network.partition", &network.PartitionParams{Filter: filter("both", l.addrB)}, tgt)
	if n := len(rtts(t, toB, 20, 50*time.Millisecond)); n != 0 {
		t.Errorf("b answered %d of 20 during the partition", n)
	}
	if n := len(rtts(t, toC, 20, time.Second)); n != 20 {
		t.Errorf("c answered %d of 20 during a partition from b only", n)
	}
	recoverFault(t, rec)
	if n := len(rtts(t, toB, 20, time.Second)); n != 20 {
		t.Errorf("b answered %d of 20 after recovery", n)
	}
}

func TestPortBlackhole(t *testing.T) {
	l := newLab(t)
	udpEcho(t, l.nsB, l.addrB+":7")
	udpEcho(t, l.nsB, l.addrB+":8")
	seven := udpClient(t, l.nsA, l.addrB+":7")
	eight := udpClient(t, l.nsA, l.addrB+":8")
	f := filter("out")
	f.Ports, f.Protocol = []string{"7"}, "udp"
	inject(t, "network.blackhole", &network.BlackholeParams{Filter: f}, l.target())
	if n := len(rtts(t, seven, 10, 50*time.Millisecond)); n != 0 {
		t.Errorf("port 7 answered %d of 10 through a blackhole", n)
	}
	if n := len(rtts(t, eight, 10, time.Second)); n != 10 {
		t.Errorf("port 8 answered %d of 10: the blackhole was for port 7", n)
	}
}
