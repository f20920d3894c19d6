package tc

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// handle opens a netlink handle in namespace f (nil: the current one).
func handle(f *os.File) (*netlink.Handle, error) {
	var h *netlink.Handle
	var err error
	if f == nil {
		h, err = netlink.NewHandle()
	} else {
		h, err = netlink.NewHandleAt(netns.NsHandle(f.Fd()))
	}
	if err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	return h, nil
}

// Apply installs s on the egress of interface iface in namespace f. The
// interface's root qdisc must be the kernel's default (handle 0:) or this
// fault's own: another one was configured by someone and is not
// replaced. On failure what was added is removed.
func Apply(f *os.File, iface string, s Spec) error {
	h, err := handle(f)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("find interface %s: %w", iface, err)
	}
	if err := checkRoot(h, link, s.Handle); err != nil {
		return err
	}
	o, err := Build(s, link.Attrs().Index)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		_, rerr := removeFrom(h, link, s.Handle)
		return errors.Join(err, rerr)
	}
	for i, q := range o.Qdiscs {
		if i == 0 {
			err = h.QdiscReplace(q) // replaces the default qdisc
		} else {
			err = h.QdiscAdd(q)
		}
		if err != nil {
			return fail(fmt.Errorf("add %s qdisc on %s: %w", q.Type(), iface, err))
		}
		if i == 0 && len(o.Classes) > 0 {
			for _, c := range o.Classes {
				if err := h.ClassAdd(c); err != nil {
					return fail(fmt.Errorf("add %s class on %s: %w", c.Type(), iface, err))
				}
			}
		}
	}
	for _, flt := range o.Filters {
		if err := h.FilterAdd(flt); err != nil {
			return fail(fmt.Errorf("add u32 filter on %s: %w", iface, err))
		}
	}
	return nil
}

// checkRoot refuses an interface whose root qdisc someone configured.
func checkRoot(h *netlink.Handle, link netlink.Link, mine uint16) error {
	qs, err := h.QdiscList(link)
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", link.Attrs().Name, err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent != netlink.HANDLE_ROOT {
			continue
		}
		major, _ := netlink.MajorMinor(a.Handle)
		if a.Handle != 0 && major != mine {
			return fmt.Errorf("interface %s has a configured root qdisc (%s %s): faultline does not replace it; remove it or target another interface",
				link.Attrs().Name, q.Type(), netlink.HandleStr(a.Handle))
		}
	}
	return nil
}

// ours is the kinds of root qdisc a fault puts.
var ours = []string{"netem", "tbf", "htb"}

// Remove deletes the root qdisc with major handle from every interface of
// namespace f, if it is one of the kinds the faults add, and returns the
// interfaces it was on. Its classes, filters and leaves go with it.
func Remove(f *os.File, major uint16) ([]string, error) {
	h, err := handle(f)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var removed []string
	var errs []error
	for _, l := range links {
		ok, err := removeFrom(h, l, major)
		if ok {
			removed = append(removed, l.Attrs().Name)
		}
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}

func removeFrom(h *netlink.Handle, link netlink.Link, major uint16) (bool, error) {
	qs, err := h.QdiscList(link)
	if err != nil {
		return false, fmt.Errorf("list qdiscs of %s: %w", link.Attrs().Name, err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if m, _ := netlink.MajorMinor(a.Handle); a.Parent != netlink.HANDLE_ROOT || m != major || !slices.Contains(ours, q.Type()) {
			continue
		}
		if err := h.QdiscDel(q); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("delete %s qdisc %s of %s: %w", q.Type(), netlink.HandleStr(a.Handle), link.Attrs().Name, err)
		}
		return true, nil
	}
	return false, nil
}

// Probe tries, on the loopback interface of namespace f (a throwaway one),
// each qdisc the faults use, and returns why each failed (nil: works):
// "netem", "tbf", and "htb" (an HTB root with a u32 filter and a leaf).
func Probe(f *os.File) map[string]error {
	out := map[string]error{}
	try := func(name string, s Spec) {
		out[name] = Apply(f, "lo", s)
		if errors.Is(out[name], unix.ENOENT) {
			out[name] = fmt.Errorf("this kernel has no %s qdisc (%w)", name, out[name])
		}
		if out[name] == nil {
			_, out[name] = Remove(f, s.Handle)
		}
	}
	shape := &Shape{BytesPerSec: 125000, Burst: 4096, Limit: 50000}
	try("netem", Spec{Handle: 0xfa00, Netem: &Netem{Latency: time.Millisecond}})
	try("tbf", Spec{Handle: 0xfa00, Shape: shape})
	try("htb", Spec{Handle: 0xfa00, Shape: shape, Matches: []Match{{Proto: 17, Port: PortMask{Value: 53, Mask: 0xffff}}}})
	return out
}

// RemoveFrom deletes the root qdisc with major handle from interface
// iface of namespace f, if it is one of the kinds the faults add. A
// missing interface has nothing to remove.
func RemoveFrom(f *os.File, iface string, major uint16) error {
	h, err := handle(f)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(iface)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find interface %s: %w", iface, err)
	}
	_, err = removeFrom(h, link, major)
	return err
}
