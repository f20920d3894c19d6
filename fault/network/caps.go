package network

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/fault/network/nft"
	"github.com/faultline-dev/faultline/fault/network/ns"
	"github.com/faultline-dev/faultline/fault/network/tc"
)

// Caps is what this machine can do for the network faults, found by
// trying each mechanism in a throwaway network namespace: reliable (a
// kernel config or a module list can lie; an attempt cannot) and cheap
// (a few milliseconds, once per process). A nil error means it works.
type Caps struct {
	// NetAdmin is CAP_NET_ADMIN, which every network fault needs.
	NetAdmin error
	// Netns is making a network namespace (the probe's own sandbox).
	Netns error
	// NFT is nftables (partition, blackhole, random loss).
	NFT error
	// Egress is nftables' netdev egress hook (Linux 5.16+), where a drop
	// is silent to the sender; without it outgoing drops happen on output
	// and the sending call fails with EPERM.
	Egress error
	// Reject is nftables' reject statement (network.reject).
	Reject error
	// NFQueue is the NFQUEUE target through nftables' xtables compat
	// layer (the userspace worker's way in).
	NFQueue error
	// Netem, TBF and HTB are the tc qdiscs (HTB with a u32 filter).
	Netem, TBF, HTB error
}

var probed = sync.OnceValue(probe)

// Probe returns this machine's capabilities, probed once per process.
func Probe() Caps { return probed() }

func probe() Caps {
	c := Caps{NetAdmin: netAdmin()}
	f, err := ns.New()
	if err != nil {
		c.Netns = err
		why := fmt.Errorf("not probed: %w", err)
		c.NFT, c.Egress, c.Reject, c.NFQueue, c.Netem, c.TBF, c.HTB = why, why, why, why, why, why, why
		return c
	}
	defer f.Close()
	try := func(v nft.Verdict, proto uint8) error {
		t := nft.Table{Name: nft.TableName("probe"), Chains: []nft.Chain{{Name: "out", Hook: nft.Output, Rules: []nft.Rule{{
			Remote: netip.MustParsePrefix("192.0.2.0/24"), Proto: proto, Per10000: 5000, Verdict: v,
		}}}}}
		if err := nft.Apply(f, t); err != nil {
			return err
		}
		_, err := nft.Delete(f, t.Name)
		return err
	}
	c.NFT = try(nft.Verdict{Kind: nft.Drop}, 0)
	c.Egress = nft.Apply(f, nft.Table{Name: nft.TableName("probe-egress"), Chains: []nft.Chain{{
		Name: "egress", Hook: nft.Egress, Device: "lo", Rules: []nft.Rule{{Proto: unix.IPPROTO_UDP, Verdict: nft.Verdict{Kind: nft.Drop}}},
	}}})
	if c.Egress == nil {
		_, c.Egress = nft.Delete(f, nft.TableName("probe-egress"))
	}
	c.Reject = try(nft.Verdict{Kind: nft.ResetTCP}, unix.IPPROTO_TCP)
	c.NFQueue = errors.Join(try(nft.Verdict{Kind: nft.Queue, QueueNum: 1}, 0), nfqueueModule())
	qd := tc.Probe(f)
	c.Netem, c.TBF, c.HTB = qd["netem"], qd["tbf"], qd["htb"]
	return c
}

// netAdmin checks the effective capability set for CAP_NET_ADMIN.
func netAdmin() error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return fmt.Errorf("read capabilities: %w", err)
			}
			if caps&(1<<unix.CAP_NET_ADMIN) == 0 {
				return errors.New("needs CAP_NET_ADMIN: run faultline as root")
			}
			return nil
		}
	}
	return errors.New("read capabilities: no CapEff in /proc/self/status")
}

// nfqueueModule checks the kernel's nfnetlink_queue is there to bind.
func nfqueueModule() error {
	if _, err := os.Stat("/proc/net/netfilter/nfnetlink_queue"); err != nil {
		return fmt.Errorf("the kernel has no nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE): %w", err)
	}
	return nil
}

// Report lists each mechanism with "ok" or why it is missing, for
// `faultline doctor`.
func (c Caps) Report() []CapReport {
	return []CapReport{
		{"CAP_NET_ADMIN (root)", "every network fault", c.NetAdmin},
		{"network namespaces", "probing; netns targets", c.Netns},
		{"nftables", "partition, blackhole, loss (nft)", c.NFT},
		{"nftables egress hook", "silent drops on the way out (else the sender gets EPERM)", c.Egress},
		{"nftables reject", "reject", c.Reject},
		{"NFQUEUE (xt compat)", "delay, loss, corrupt, duplicate, reorder, dns (nfqueue worker)", c.NFQueue},
		{"tc netem", "delay, loss, corrupt, duplicate, reorder (netem)", c.Netem},
		{"tc tbf", "bandwidth", c.TBF},
		{"tc htb + u32", "bandwidth and netem with filters", c.HTB},
	}
}

// CapReport is one line of Caps.Report.
type CapReport struct {
	Name, For string
	Err       error
}

// Choice is the backend a kind would use here.
type Choice struct {
	Kind    string
	Backend Backend
	Err     error
}

// Choices says, for each kind with its default parameters, which backend
// it would use on a machine with caps c, or why none can serve it.
func (c Caps) Choices() []Choice {
	var out []Choice
	for _, name := range slices.Sorted(maps.Keys(defaultPlans)) {
		pl := defaultPlans[name]()
		m, err := pl.match()
		var b Backend
		if err == nil {
			b, err = choose(name, pl, m, c)
		}
		out = append(out, Choice{Kind: name, Backend: b, Err: err})
	}
	return out
}
