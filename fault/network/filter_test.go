package network

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/fault/faulttest"
)

// TestTables builds the rules of filters as tables and compares their
// nft rendering.
func TestTables(t *testing.T) {
	never := []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")}
	for _, tc := range []struct {
		name   string
		f      Filter
		egress bool
		v      verdictFor
		per    uint32
		want   string
	}{{
		name: "loss on the way out, silent (egress)", egress: true, v: drop, per: 2000,
		f: Filter{Direction: "out", Protocol: "all", KeepSSH: true},
		want: `table netdev faultline-x {
	chain egress {
		type filter hook egress device "eth0" priority filter; policy accept;
		meta l4proto tcp th sport 22 accept
		ip daddr 192.0.2.10/32 accept
		numgen random mod 10000 < 2000 drop
	}
}
`}, {
		name: "partition from two peers both ways", egress: true, v: drop,
		f: Filter{Direction: "both", Protocol: "all", Peers: []string{"10.0.0.0/8", "fd00::1"}},
		want: `table inet faultline-x {
	chain in {
		type filter hook input priority filter; policy accept;
		ip saddr 192.0.2.10/32 accept
		iifname "eth0" ip saddr 10.0.0.0/8 drop
		iifname "eth0" ip6 saddr fd00::1/128 drop
	}
}
table netdev faultline-x {
	chain egress {
		type filter hook egress device "eth0" priority filter; policy accept;
		ip daddr 192.0.2.10/32 accept
		ip daddr 10.0.0.0/8 drop
		ip6 daddr fd00::1/128 drop
	}
}
`}, {
		name: "reject a port range, tcp and udp", v: rejectWith("auto"),
		f: Filter{Direction: "out", Protocol: "all", Ports: []string{"8000-8100"}},
		want: `table inet faultline-x {
	chain out {
		type filter hook output priority filter; policy accept;
		ip daddr 192.0.2.10/32 accept
		oifname "eth0" meta l4proto tcp th dport 8000-8100 reject with tcp reset
		oifname "eth0" meta l4proto udp th dport 8000-8100 reject with icmpx type port-unreachable
	}
}
`}} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.f.compile()
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, tb := range m.tables("x", "eth0", tc.egress, 0, never, tc.v, tc.per) {
				got.WriteString(tb.Render())
				for _, c := range tb.Chains {
					for _, r := range c.Rules {
						if _, err := r.Exprs(c.Hook); err != nil {
							t.Errorf("%s: %v", r.Render(c.Hook), err)
						}
					}
				}
			}
			if got.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got.String(), tc.want)
			}
		})
	}
}

// TestValidate names the field of each mistake.
func TestValidate(t *testing.T) {
	f := func(mod func(*Filter)) Filter { x := defaultFilter("out"); mod(&x); return x }
	for _, tc := range []struct {
		name   string
		params interface{ Validate() error }
		want   []string
	}{
		{"delay ok", &DelayParams{Latency: 1e8, Backend: Auto, Filter: defaultFilter("out")}, nil},
		{"delay missing", &DelayParams{Backend: Auto, Filter: defaultFilter("out")}, []string{"latency"}},
		{"jitter above latency", &DelayParams{Latency: 1e7, Jitter: 2e7, Backend: Auto, Filter: defaultFilter("out")}, []string{"jitter"}},
		{"bad backend", &DelayParams{Latency: 1e7, Backend: "tbf", Filter: defaultFilter("out")}, []string{"backend"}},
		{"bad direction and peer", &LossParams{Loss: 5, Backend: Auto, Filter: f(func(x *Filter) { x.Direction, x.Peers = "up", []string{"10.0.0.0/33"} })}, []string{"direction", "peers"}},
		{"loss 0", &LossParams{Backend: Auto, Filter: defaultFilter("out")}, []string{"loss"}},
		{"correlated loss on nft", &LossParams{Loss: 5, Correlation: 50, Backend: NFT, Filter: defaultFilter("out")}, []string{"correlation"}},
		{"correlated loss on netem", &LossParams{Loss: 5, Correlation: 50, Backend: Netem, Filter: defaultFilter("out")}, []string{"correlation"}},
		{"correlated delay on netem", &DelayParams{Latency: 1e7, Jitter: 1e6, Correlation: 25, Backend: Netem, Filter: defaultFilter("out")}, []string{"correlation"}},
		{"correlated reorder on auto", &ReorderParams{Reorder: 5, Delay: 1e7, Correlation: 25, Backend: Auto, Filter: defaultFilter("out")}, nil},
		{"uncorrelated duplicate on netem", &DuplicateParams{Duplicate: 5, Backend: Netem, Filter: defaultFilter("out")}, nil},
		{"icmp with ports", &BlackholeParams{Filter: f(func(x *Filter) { x.Protocol, x.Ports = "icmp", []string{"80"} })}, []string{"protocol"}},
		{"bad port range", &BlackholeParams{Filter: f(func(x *Filter) { x.Ports = []string{"90-80"} })}, []string{"ports"}},
		{"partition without peers", &PartitionParams{Filter: defaultFilter("both")}, []string{"peers"}},
		{"duplicate inbound", &DuplicateParams{Duplicate: 5, Backend: Auto, Filter: defaultFilter("in")}, []string{"direction"}},
		{"bandwidth inbound", &BandwidthParams{Rate: 1e6, Filter: defaultFilter("in")}, []string{"direction"}},
		{"reset without tcp", &RejectParams{With: "tcp-reset", Filter: f(func(x *Filter) { x.Ports = []string{"80"} })}, []string{"protocol"}},
		{"dns both answers", &DNSParams{Names: []string{"a.test"}, Address: "10.0.0.1", Fail: "nxdomain"}, []string{"address"}},
		{"dns bad name", &DNSParams{Names: []string{"a..test"}, Fail: "timeout"}, []string{"names"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := faulttest.Fields(tc.params.Validate())
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("fields %v, want %v (%v)", got, tc.want, tc.params.Validate())
			}
		})
	}
}

// TestChoose picks backends by what the machine has.
func TestChoose(t *testing.T) {
	missing := errMissing("not here")
	all := Caps{}
	noNetem := Caps{Netem: missing}
	for _, tc := range []struct {
		name string
		pl   plan
		c    Caps
		want Backend
		err  string
	}{
		{"delay prefers netem", plan{filter: defaultFilter("out"), want: Auto, candidates: []Backend{Netem, NFQueue}}, all, Netem, ""},
		{"delay falls back to nfqueue", plan{filter: defaultFilter("out"), want: Auto, candidates: []Backend{Netem, NFQueue}}, noNetem, NFQueue, ""},
		{"inbound delay skips netem", plan{filter: defaultFilter("in"), want: Auto, candidates: []Backend{Netem, NFQueue}}, all, NFQueue, ""},
		{"asked for netem that is missing", plan{filter: defaultFilter("out"), want: Netem, candidates: []Backend{Netem, NFQueue}}, noNetem, "", "netem: not here"},
		{"nothing at all", plan{filter: defaultFilter("out"), want: Auto, candidates: []Backend{Netem, NFQueue}}, Caps{Netem: missing, NFQueue: missing}, "", "no backend can apply"},
		{"a correlation skips netem", plan{filter: defaultFilter("out"), want: Auto, candidates: uncorrelated(50, Netem, NFQueue)}, all, NFQueue, ""},
		{"correlated loss skips nft and netem", plan{filter: defaultFilter("out"), want: Auto, candidates: uncorrelated(50, NFT, Netem, NFQueue)}, all, NFQueue, ""},
		{"uncorrelated loss prefers nft", plan{filter: defaultFilter("out"), want: Auto, candidates: uncorrelated(0, NFT, Netem, NFQueue)}, all, NFT, ""},
		{"no root", plan{filter: defaultFilter("out"), want: Auto, candidates: []Backend{NFT}}, Caps{NetAdmin: missing}, "", "not here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.pl.match()
			if err != nil {
				t.Fatal(err)
			}
			got, err := choose("network.x", tc.pl, m, tc.c)
			if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Errorf("got %q, %v; want %q, %q", got, err, tc.want, tc.err)
			}
		})
	}
}

type errMissing string

func (e errMissing) Error() string { return string(e) }
