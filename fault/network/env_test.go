package network_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/faulttest"
	"github.com/faultline-dev/faultline/fault/network"
	"github.com/faultline-dev/faultline/fault/network/nft"
	"github.com/faultline-dev/faultline/fault/network/ns"
	"github.com/faultline-dev/faultline/target"
)

// prefix names every namespace and interface the tests make, so a sweep
// finds those a killed run left behind.
const prefix = "flt-"

func TestMain(m *testing.M) {
	network.RunWorkerIfRequested()
	if os.Geteuid() == 0 {
		sweep()
	}
	os.Exit(m.Run())
}

// sweep deletes the test namespaces a previous, killed run left.
func sweep() {
	ents, _ := os.ReadDir(target.NetnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			exec.Command("ip", "netns", "del", e.Name()).Run()
		}
	}
}

// needRoot skips tests that need root and the kernel features here.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// lab is three namespaces: a in the middle, linked to b (10.M.1.0/24) and
// to c (10.M.2.0/24) by veth pairs. Faults go into a.
type lab struct {
	a, b, c        string // namespace names
	aToB, aToC     string // a's interfaces
	addrA, addrB   string // on the a–b link
	addrAC, addrC  string // on the a–c link
	addr6A, addr6B string // IPv6, on the a–b link
	nsA, nsB, nsC  *os.File
}

var labs = 0

// newLab makes a lab for one test and removes it at cleanup.
func newLab(t *testing.T) *lab {
	t.Helper()
	needRoot(t)
	labs++
	tag := strings.ToLower(rand.Text()[:5])
	n := 100 + (os.Getpid()+labs)%100
	l := &lab{
		a: prefix + tag + "-a", b: prefix + tag + "-b", c: prefix + tag + "-c",
		aToB: prefix + tag + "ab", aToC: prefix + tag + "ac",
		addrA: fmt.Sprintf("10.%d.1.1", n), addrB: fmt.Sprintf("10.%d.1.2", n),
		addrAC: fmt.Sprintf("10.%d.2.1", n), addrC: fmt.Sprintf("10.%d.2.2", n),
		addr6A: fmt.Sprintf("fd00:%d:1::1", n), addr6B: fmt.Sprintf("fd00:%d:1::2", n),
	}
	for _, name := range []string{l.a, l.b, l.c} {
		run(t, "ip", "netns", "add", name)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		run(t, "ip", "-n", name, "link", "set", "lo", "up")
	}
	link := func(iface, peerNS, peerIface, addr, peerAddr string) {
		run(t, "ip", "-n", l.a, "link", "add", iface, "type", "veth", "peer", "name", peerIface, "netns", peerNS)
		run(t, "ip", "-n", l.a, "addr", "add", addr+"/24", "dev", iface)
		run(t, "ip", "-n", peerNS, "addr", "add", peerAddr+"/24", "dev", peerIface)
		run(t, "ip", "-n", l.a, "link", "set", iface, "up")
		run(t, "ip", "-n", peerNS, "link", "set", peerIface, "up")
	}
	link(l.aToB, l.b, "eth0", l.addrA, l.addrB)
	link(l.aToC, l.c, "eth0", l.addrAC, l.addrC)
	run(t, "ip", "-n", l.a, "addr", "add", l.addr6A+"/64", "dev", l.aToB, "nodad")
	run(t, "ip", "-n", l.b, "addr", "add", l.addr6B+"/64", "dev", "eth0", "nodad")
	l.nsA, l.nsB, l.nsC = openNS(t, l.a), openNS(t, l.b), openNS(t, l.c)
	return l
}

func openNS(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join(target.NetnsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// target is namespace a, acting on its link to b.
func (l *lab) target() target.Target {
	return target.Target{Type: target.Netns, Netns: l.a, Interface: l.aToB}
}

// in runs fn (which makes sockets) inside namespace f.
func in(t *testing.T, f *os.File, fn func() error) {
	t.Helper()
	if err := ns.Do(f, fn); err != nil {
		t.Fatal(err)
	}
}

// udpNet is the network of addr: udp6 for "[v6]:port", else udp4.
func udpNet(addr string) string {
	if strings.HasPrefix(addr, "[") {
		return "udp6"
	}
	return "udp4"
}

// udpEcho serves UDP echo on addr in namespace f until the test ends.
func udpEcho(t *testing.T, f *os.File, addr string) {
	t.Helper()
	var c net.PacketConn
	in(t, f, func() (err error) { c, err = net.ListenPacket(udpNet(addr), addr); return })
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(buf[:n], from)
		}
	}()
}

// udpClient dials addr from namespace f.
func udpClient(t *testing.T, f *os.File, addr string) *net.UDPConn {
	t.Helper()
	var c net.Conn
	in(t, f, func() (err error) { c, err = net.Dial(udpNet(addr), addr); return })
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

// NetemEnv set to 1 says the kernel must have tc netem: the netem VM
// (scripts/netem-vm.sh) sets it, so that a kernel without netem fails
// the run there instead of skipping every netem test.
const NetemEnv = "FAULTLINE_TEST_NETEM"

// backends are those of candidates this kernel has, for tests that run
// once per backend; the others are logged as skipped.
func backends(t *testing.T, candidates ...network.Backend) []network.Backend {
	t.Helper()
	needRoot(t)
	c := network.Probe()
	var out []network.Backend
	for _, b := range candidates {
		var err error
		switch b {
		case network.NFT:
			err = c.NFT
		case network.NFQueue:
			err = errors.Join(c.NFT, c.NFQueue)
		case network.Netem:
			err = c.Netem
			if err != nil && os.Getenv(NetemEnv) == "1" {
				t.Fatalf("$%s=1 but this kernel has no netem: %v", NetemEnv, err)
			}
		}
		if err != nil {
			t.Logf("not testing the %s backend: %v", b, err)
			continue
		}
		out = append(out, b)
	}
	return out
}

// inject injects a fault of kind with params into tgt and recovers it at
// cleanup, then checks that nothing of it is left in tgt's namespace; it
// returns the record. A fault asking for a backend (not auto) must get it.
func inject(t *testing.T, kind string, params any, tgt target.Target) *fault.Record {
	t.Helper()
	rec := faulttest.NewRecord(t, kind, params, tgt)
	k, _ := fault.Lookup(kind)
	if err := k.Preflight(context.Background(), rec); err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	t.Cleanup(func() {
		if err := k.Recover(context.Background(), rec); err != nil {
			t.Errorf("cleanup Recover: %v", err)
		}
		leftBehind(t, rec)
	})
	if err := k.Inject(context.Background(), rec); err != nil {
		t.Fatalf("Inject: %v", err)
	}
	got := backendOf(t, rec)
	if want := requested(params); want != "" && want != network.Auto && got != want {
		t.Fatalf("%s asked for the %s backend and got %q", kind, want, got)
	}
	t.Logf("%s through the %s backend", kind, got)
	return rec
}

// backendOf is the backend an injected fault uses, from its record.
func backendOf(t *testing.T, rec *fault.Record) network.Backend {
	t.Helper()
	var st struct {
		Backend network.Backend `json:"backend"`
	}
	if err := rec.GetState(&st); err != nil {
		t.Fatal(err)
	}
	return st.Backend
}

// requested is the backend params ask for ("" when the kind has no
// choice).
func requested(params any) network.Backend {
	switch p := params.(type) {
	case *network.DelayParams:
		return p.Backend
	case *network.LossParams:
		return p.Backend
	case *network.CorruptParams:
		return p.Backend
	case *network.DuplicateParams:
		return p.Backend
	case *network.ReorderParams:
		return p.Backend
	}
	return ""
}

func recoverFault(t *testing.T, rec *fault.Record) {
	t.Helper()
	k, _ := fault.Lookup(rec.Kind)
	if err := k.Recover(context.Background(), rec); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	leftBehind(t, rec)
}

// leftBehind fails if a recovered fault left its table or any configured
// root qdisc (handle other than the kernel default's 0:) in the target's
// namespace: what `nft list tables` and `tc qdisc show` would show.
func leftBehind(t *testing.T, rec *fault.Record) {
	t.Helper()
	if rec.Target.Type != target.Netns {
		return
	}
	f, err := os.Open(filepath.Join(target.NetnsDir, rec.Target.Netns))
	if err != nil {
		t.Errorf("open the target's namespace: %v", err)
		return
	}
	defer f.Close()
	if ok, err := nft.Has(f, nft.TableName(rec.ID)); err != nil || ok {
		t.Errorf("after recovery: the fault's nft table is left (%v)", err)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(f.Fd()))
	if err != nil {
		t.Errorf("open netlink in the target's namespace: %v", err)
		return
	}
	defer h.Close()
	qs, err := h.QdiscList(nil)
	if err != nil {
		t.Errorf("list qdiscs: %v", err)
		return
	}
	for _, q := range qs {
		if a := q.Attrs(); a.Parent == netlink.HANDLE_ROOT && a.Handle != 0 {
			t.Errorf("after recovery: %s qdisc %s is left on interface %d", q.Type(), netlink.HandleStr(a.Handle), a.LinkIndex)
		}
	}
}

// hasTable reports whether the fault's table is in namespace f.
func hasTable(t *testing.T, f *os.File, id string) bool {
	t.Helper()
	ok, err := nft.Has(f, nft.TableName(id))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// deadline bounds a measurement loop.
func deadline(t *testing.T, d time.Duration) time.Time {
	t.Helper()
	return time.Now().Add(d)
}
