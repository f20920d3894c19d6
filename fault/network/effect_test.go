package network_test

import (
	"slices"
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
	for _, backend := range backends(t, network.Netem, network.NFQueue) {
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

// TestDelayJitter adds 50ms ± 20ms, through each backend: the added RTT
// spreads uniformly over 30-70ms: its 10th and 90th percentiles are 32ms
// apart, and none is under 30ms. (The spread, not the percentiles
// themselves: the emulated netem VM's timers add a few ms; TestDelay
// checks the mean delay.)
func TestDelayJitter(t *testing.T) {
	for _, backend := range backends(t, network.Netem, network.NFQueue) {
		t.Run(string(backend), func(t *testing.T) {
			l := newLab(t)
			udpEcho(t, l.nsB, l.addrB+":7")
			c := udpClient(t, l.nsA, l.addrB+":7")
			base := median(rtts(t, c, 50, time.Second))
			inject(t, "network.delay", &network.DelayParams{Latency: experiment.Duration(50 * time.Millisecond), Jitter: experiment.Duration(20 * time.Millisecond), Backend: backend, Filter: filter("out")}, l.target())
			rs := rtts(t, c, 200, time.Second)
			if len(rs) < 195 {
				t.Fatalf("%d of 200 round trips came back", len(rs))
			}
			slices.Sort(rs)
			ms := func(q float64) float64 { return float64(rs[int(q*float64(len(rs)))]-base) / 1e6 }
			within(t, "added RTT p90 - p10 (ms)", ms(0.9)-ms(0.1), 32, 4)
			if low := ms(0); low < 28 {
				t.Errorf("a round trip gained %.1fms, less than the 30ms latency - jitter allows", low)
			}
		})
	}
}

// TestDelayFiltered delays, without the SSH exclusion, either only UDP to
// b's port 7 (netem: an HTB root sends it through a u32 filter to a netem
// leaf) or everything (netem: the bare root qdisc), and measures the RTT
// added to ports 7 and 8 on the same link.
func TestDelayFiltered(t *testing.T) {
	const want = 30 * time.Millisecond
	for _, backend := range backends(t, network.Netem, network.NFQueue) {
		for _, c := range []struct {
			name   string
			filter network.Filter
			want8  time.Duration
		}{
			{"port7", network.Filter{Direction: "out", Protocol: "udp", Ports: []string{"7"}}, 0},
			{"everything", network.Filter{Direction: "out", Protocol: "all"}, want},
		} {
			t.Run(string(backend)+"/"+c.name, func(t *testing.T) {
				l := newLab(t)
				udpEcho(t, l.nsB, l.addrB+":7")
				udpEcho(t, l.nsB, l.addrB+":8")
				seven := udpClient(t, l.nsA, l.addrB+":7")
				eight := udpClient(t, l.nsA, l.addrB+":8")
				base7, base8 := median(rtts(t, seven, 50, time.Second)), median(rtts(t, eight, 50, time.Second))
				inject(t, "network.delay", &network.DelayParams{Latency: experiment.Duration(want), Backend: backend, Filter: c.filter}, l.target())
				within(t, "port 7 added RTT (ms)", float64(median(rtts(t, seven, 100, time.Second))-base7)/1e6, float64(want)/1e6, float64(want)/1e6*0.10)
				within(t, "port 8 added RTT (ms)", float64(median(rtts(t, eight, 100, time.Second))-base8)/1e6, float64(c.want8)/1e6, max(3, float64(c.want8)/1e6*0.10))
			})
		}
	}
}

// TestDelayIPv6 delays a's IPv6 traffic to b with the default filter
// (every protocol, the SSH server excluded), through each backend: the
// exclusion must not turn the fault into an IPv4-only one.
func TestDelayIPv6(t *testing.T) {
	const want = 30 * time.Millisecond
	for _, backend := range backends(t, network.Netem, network.NFQueue) {
		t.Run(string(backend), func(t *testing.T) {
			l := newLab(t)
			addr := "[" + l.addr6B + "]:7"
			udpEcho(t, l.nsB, addr)
			c := udpClient(t, l.nsA, addr)
			base := median(rtts(t, c, 50, time.Second))
			inject(t, "network.delay", &network.DelayParams{Latency: experiment.Duration(want), Backend: backend, Filter: filter("out")}, l.target())
			within(t, "IPv6 added RTT (ms)", float64(median(rtts(t, c, 100, time.Second))-base)/1e6, float64(want)/1e6, float64(want)/1e6*0.10)
		})
	}
}

// TestDelayBacklog delays a's datagrams to b by 500ms while it sends
// 4000 a second for a second: 2000 are held at once, more than tc's
// default netem queue of 1000 packets. A delay must not turn into loss.
func TestDelayBacklog(t *testing.T) {
	for _, backend := range backends(t, network.Netem, network.NFQueue) {
		t.Run(string(backend), func(t *testing.T) {
			l := newLab(t)
			c := echoPath(t, l)
			inject(t, "network.delay", &network.DelayParams{Latency: experiment.Duration(500 * time.Millisecond), Backend: backend, Filter: filter("out")}, l.target())
			s := echoBurst(t, c, 4000, 32, 4000)
			within(t, "lost (%)", 100*float64(s.sent-s.back)/float64(s.sent), 0, 0.5)
		})
	}
}

// TestLoss drops 20% of a's packets to b and counts the echoes of 4000.
func TestLoss(t *testing.T) {
	for _, backend := range backends(t, network.NFT, network.Netem, network.NFQueue) {
		t.Run(string(backend), func(t *testing.T) {
			l := newLab(t)
			c := echoPath(t, l)
			inject(t, "network.loss", &network.LossParams{Loss: 20, Backend: backend, Filter: filter("out")}, l.target())
			s := echoBurst(t, c, 4000, 32, 4000)
			within(t, "loss (%)", 100*float64(s.sent-s.back)/float64(s.sent), 20, 3)
		})
	}
}

// TestLossCorrelated drops 20% of a's datagrams to b with a correlation of
// 50% (each decision repeats the previous one half of the time), with the
// backend left to faultline: the share stays 20%, and the losses come in
// runs of 2.5 on average (a loss follows a loss with probability
// 0.5 + 0.5 × 0.2), where independent ones average 1.25. Only the nfqueue
// worker draws so: netem, picked first before, dropped 3.4%.
func TestLossCorrelated(t *testing.T) {
	if len(backends(t, network.NFQueue)) == 0 {
		t.Skip("correlated loss needs the nfqueue backend")
	}
	l := newLab(t)
	c := echoPath(t, l)
	rec := inject(t, "network.loss", &network.LossParams{Loss: 20, Correlation: 50, Backend: network.Auto, Filter: filter("out")}, l.target())
	if b := backendOf(t, rec); b != network.NFQueue {
		t.Errorf("correlated loss through the %s backend, want nfqueue", b)
	}
	// 1000 a second: the worker lets through what it cannot keep up with,
	// and the emulated netem VM is slow.
	s := echoBurst(t, c, 5000, 32, 1000)
	lost := s.sent - s.back
	within(t, "loss (%)", 100*float64(lost)/float64(s.sent), 20, 3)
	within(t, "mean run of losses", float64(lost)/float64(max(s.lossRuns, 1)), 2.5, 0.4)
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
