package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/network/nfq"
	"github.com/faultline-dev/faultline/fault/network/nft"
	"github.com/faultline-dev/faultline/fault/network/ns"
	"github.com/faultline-dev/faultline/fault/network/tc"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/target"
)

// plan is what a kind asks for, in each backend's terms.
type plan struct {
	filter Filter
	want   Backend
	// candidates are the backends that can serve the kind, best first.
	candidates []Backend
	// netem and shape are the tc backends' qdiscs.
	netem *tc.Netem
	shape *tc.Shape
	// worker is the nfqueue backend's policy.
	worker *nfq.Config
	// verdict and per10000 are the nft backend's rules.
	verdict  verdictFor
	per10000 uint32
	// forceProtos overrides the filter's protocols (reject's auto mode).
	forceProtos []uint8
	// silentDrop puts the nft backend's outgoing rules on the egress hook
	// where the kernel has it, so the sender sees no error (a drop on
	// output fails the send with EPERM, which no real network does).
	silentDrop bool
}

// state is what Inject records for recovery and for humans; recovery
// works without it (a fault killed mid-inject), from names derived from
// the fault's id.
type state struct {
	Backend   Backend `json:"backend"`
	Interface string  `json:"interface,omitempty"`
	Table     string  `json:"table,omitempty"`
	Qdisc     string  `json:"qdisc,omitempty"`
	Queue     uint16  `json:"queue,omitempty"`
	Worker    *proc   `json:"worker,omitempty"`
	Rules     string  `json:"rules,omitempty"`
}

// choose picks the backend for a plan on a machine with caps c.
func choose(kind string, pl plan, m match, c Caps) (Backend, error) {
	if c.NetAdmin != nil {
		return "", c.NetAdmin
	}
	filtered := len(m.peers) > 0 || len(m.ports) > 0 || len(m.localPorts) > 0 || len(m.protos) > 0 || len(m.exclude) > 0 || m.keepSSH
	var why []string
	for _, b := range pl.candidates {
		if pl.want != Auto && pl.want != b {
			continue
		}
		var err error
		switch b {
		case NFT:
			err = c.NFT
		case NFQueue:
			err = errors.Join(c.NFT, c.NFQueue)
		case Netem:
			err = c.Netem
			if m.in {
				err = errors.Join(err, errors.New("netem shapes outgoing packets only (direction: out)"))
			}
			if filtered && c.HTB != nil {
				err = errors.Join(err, fmt.Errorf("filters need htb: %w", c.HTB))
			}
		case TBF:
			err = c.TBF
			if filtered {
				err = c.HTB
			}
		}
		if err == nil {
			return b, nil
		}
		why = append(why, fmt.Sprintf("%s: %s", b, strings.ReplaceAll(err.Error(), "\n", "; ")))
	}
	if pl.want != Auto && len(why) == 0 {
		return "", fmt.Errorf("%s cannot use the %s backend", kind, pl.want)
	}
	return "", fmt.Errorf("no backend can apply %s on this machine (%s); `faultline doctor` lists what works here", kind, strings.Join(why, "; "))
}

func (pl plan) match() (match, error) {
	m, err := pl.filter.compile()
	if err != nil {
		return match{}, err
	}
	if pl.forceProtos != nil && len(m.ports) == 0 && len(m.localPorts) == 0 {
		m.protos = pl.forceProtos
	}
	return m, nil
}

// preflight checks the target and that a backend can serve the plan.
func preflight(kind string, pl plan, rec *fault.Record) error {
	m, err := pl.match()
	if err != nil {
		return err
	}
	if _, err := choose(kind, pl, m, Probe()); err != nil {
		return err
	}
	if _, err := controlPlane(); err != nil {
		return err
	}
	f, err := rec.Target.OpenNetNS()
	if err != nil {
		return err
	}
	if f != nil {
		defer f.Close()
	}
	if kind == "network.dns" {
		return nil
	}
	_, err = iface(f, rec.Target)
	return err
}

// inject applies the plan to rec's target.
func inject(ctx context.Context, kind string, pl plan, rec *fault.Record) error {
	m, err := pl.match()
	if err != nil {
		return err
	}
	backend, err := choose(kind, pl, m, Probe())
	if err != nil {
		return err
	}
	never, err := controlPlane()
	if err != nil {
		return err
	}
	f, err := rec.Target.OpenNetNS()
	if err != nil {
		return err
	}
	if f != nil {
		defer f.Close()
	}
	st := state{Backend: backend}
	if kind != "network.dns" {
		if st.Interface, err = iface(f, rec.Target); err != nil {
			return err
		}
	}
	switch backend {
	case NFT:
		egress := pl.silentDrop && Probe().Egress == nil
		ts := m.tables(rec.ID, st.Interface, egress, 0, never, pl.verdict, pl.per10000)
		if err := applyTables(f, &st, ts); err != nil {
			return err
		}
	case NFQueue:
		p, q, err := startWorker(ctx, rec, f, *pl.worker)
		if err != nil {
			return err
		}
		st.Worker, st.Queue = &p, q
		queue := func(uint8) nft.Verdict { return nft.Verdict{Kind: nft.Queue, QueueNum: q} }
		ts := m.tables(rec.ID, st.Interface, false, skipMark(rec.ID), never, queue, 0)
		if err := applyTables(f, &st, ts); err != nil {
			return errors.Join(err, stopWorkers(ctx, rec.ID, []proc{p}))
		}
	case Netem, TBF:
		spec := tc.Spec{Handle: tc.Handle(rec.ID), Netem: pl.netem, Shape: pl.shape, Matches: m.tcMatches(never)}
		st.Qdisc = netlink.HandleStr(netlink.MakeHandle(spec.Handle, 0))
		if err := tc.Apply(f, st.Interface, spec); err != nil {
			return err
		}
	}
	return rec.SetState(st)
}

// applyTables adds the tables, recording them in st; on failure it
// removes what it added.
func applyTables(f *os.File, st *state, ts []nft.Table) error {
	var rendered []string
	for _, t := range ts {
		rendered = append(rendered, t.Render())
	}
	st.Rules = strings.Join(rendered, "")
	for _, t := range ts {
		st.Table = t.Name
		if err := nft.Apply(f, t); err != nil {
			_, derr := nft.Delete(f, t.Name)
			return errors.Join(fmt.Errorf("%w (rules:\n%s)", err, st.Rules), derr)
		}
	}
	return nil
}

// tcMatches are the u32 matches of a filter: exclusions first, then what
// the fault acts on. Nothing at all (no filter, no exclusion) means the
// qdisc takes every packet.
func (m match) tcMatches(never []netip.Prefix) []tc.Match {
	var out []tc.Match
	if m.keepSSH {
		out = append(out, tc.Match{Exclude: true, Proto: unix.IPPROTO_TCP, LocalPort: tc.PortMask{Value: 22, Mask: 0xffff}})
	}
	for _, p := range append(append([]netip.Prefix(nil), m.exclude...), never...) {
		out = append(out, tc.Match{Exclude: true, Remote: p})
	}
	excludes := len(out)
	for _, c := range m.combos() {
		for _, rp := range portMasks(c.RemotePorts) {
			for _, lp := range portMasks(c.LocalPorts) {
				out = append(out, tc.Match{Remote: c.Remote, Proto: c.Proto, Port: rp, LocalPort: lp})
			}
		}
	}
	if excludes == 0 && len(out) == 1 && out[0] == (tc.Match{}) {
		return nil // one match-all and no exclusion: the qdisc takes everything
	}
	return out
}

func portMasks(p nft.Ports) []tc.PortMask {
	if p.Any() {
		return []tc.PortMask{{}}
	}
	return tc.PortMasks(p.From, p.To)
}

// iface is the target's interface: the one it names, else the one of its
// default route.
func iface(f *os.File, t target.Target) (string, error) {
	var h *netlink.Handle
	var err error
	if f == nil {
		h, err = netlink.NewHandle()
	} else {
		h, err = netlink.NewHandleAt(netns.NsHandle(f.Fd()))
	}
	if err != nil {
		return "", fmt.Errorf("open netlink: %w", err)
	}
	defer h.Close()
	if t.Interface != "" {
		if _, err := h.LinkByName(t.Interface); err != nil {
			return "", fmt.Errorf("%s has no interface %s: %w", t, t.Interface, err)
		}
		return t.Interface, nil
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteList(nil, fam)
		if err != nil {
			return "", fmt.Errorf("list the routes of %s: %w", t, err)
		}
		best := -1
		for i, r := range routes {
			if (r.Dst == nil || r.Dst.IP.IsUnspecified() && ones(r) == 0) && r.LinkIndex > 0 && (best < 0 || r.Priority < routes[best].Priority) {
				best = i
			}
		}
		if best >= 0 {
			l, err := h.LinkByIndex(routes[best].LinkIndex)
			if err != nil {
				return "", fmt.Errorf("find the default route's interface of %s: %w", t, err)
			}
			return l.Attrs().Name, nil
		}
	}
	return "", fmt.Errorf("%s has no default route: name the interface in the target (host: {interface: eth0} or netns: {name: …, interface: …})", t)
}

func ones(r netlink.Route) int {
	n, _ := r.Dst.Mask.Size()
	return n
}

// recoverFault removes what fault rec added, wherever it is: its nft
// table, its root qdisc, its worker. It needs only the record; each part
// is looked for, and missing parts are fine (never applied, or already
// removed): recovering twice changes nothing.
func recoverFault(ctx context.Context, rec *fault.Record) error {
	var st state
	if err := rec.GetState(&st); err != nil {
		return err
	}
	var errs []error
	// The worker last: while the table queues packets to it, it lets them
	// through; once the table is gone nothing more is queued.
	nss, sweep, err := namespaces(rec.Target)
	if err != nil {
		errs = append(errs, err)
	}
	for _, f := range nss {
		if _, err := nft.Delete(f, nft.TableName(rec.ID)); err != nil {
			errs = append(errs, err)
		}
		if st.Backend == "" || st.Backend == Netem || st.Backend == TBF {
			errs = append(errs, removeQdisc(f, rec, st, sweep))
		}
		if f != nil {
			f.Close()
		}
	}
	if sweep {
		fault.Notef(ctx, "%s is gone: looked for the fault's rules in every network namespace of this host", rec.Target)
	}
	var known []proc
	if st.Worker != nil {
		known = append(known, *st.Worker)
	}
	errs = append(errs, stopWorkers(ctx, rec.ID, known))
	return errors.Join(errs...)
}

// removeQdisc deletes the fault's root qdisc: on its interface, or on any
// interface when the namespace was found by a sweep.
func removeQdisc(f *os.File, rec *fault.Record, st state, sweep bool) error {
	major := tc.Handle(rec.ID)
	if sweep {
		_, err := tc.Remove(f, major)
		return err
	}
	name := st.Interface
	if name == "" {
		var err error
		if name, err = iface(f, rec.Target); err != nil {
			_, err := tc.Remove(f, major) // no interface known: every one
			return err
		}
	}
	return tc.RemoveFrom(f, name, major)
}

// namespaces opens the namespace of the target, or, when it cannot be
// reached any more (its process exited, its name was removed), every
// namespace of the host: one may still hold the fault's rules. nil in the
// list stands for the host's own.
func namespaces(t target.Target) ([]*os.File, bool, error) {
	f, err := t.OpenNetNS()
	if err == nil {
		return []*os.File{f}, false, nil
	}
	all, aerr := ns.All(procfs.Root, target.NetnsDir)
	if aerr != nil {
		return nil, true, errors.Join(err, aerr)
	}
	return all, true, nil
}
