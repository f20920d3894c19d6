// Package network benchmarks the NFQUEUE backend of the network faults:
// the worker's CPU cost per 1,000 packets/s and its delay accuracy (p50
// and p99 error of the added one-way delay) at 1,000 and 10,000 packets/s.
//
// It needs root and makes two network namespaces joined by a veth pair
// (flt-bench-*), sends UDP between them only, and removes them. Run:
//
//	FAULTLINE_BENCH=1 go test -v -run NFQueue -count=1 ./bench/network/
package network

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/faulttest"
	"github.com/faultline-dev/faultline/fault/network"
	"github.com/faultline-dev/faultline/fault/network/ns"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/target"
)

func TestMain(m *testing.M) {
	network.RunWorkerIfRequested()
	os.Exit(m.Run())
}

const delay = 20 * time.Millisecond

func TestNFQueue(t *testing.T) {
	if os.Getenv("FAULTLINE_BENCH") == "" || os.Geteuid() != 0 {
		t.Skip("set FAULTLINE_BENCH=1 and run as root")
	}
	a, b := "flt-bench-a", "flt-bench-b"
	sh := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	for _, n := range []string{a, b} {
		exec.Command("ip", "netns", "del", n).Run()
		sh("ip", "netns", "add", n)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
	}
	sh("ip", "-n", a, "link", "add", "flt-bench0", "type", "veth", "peer", "name", "eth0", "netns", b)
	sh("ip", "-n", a, "addr", "add", "10.250.0.1/24", "dev", "flt-bench0")
	sh("ip", "-n", b, "addr", "add", "10.250.0.2/24", "dev", "eth0")
	sh("ip", "-n", a, "link", "set", "flt-bench0", "up")
	sh("ip", "-n", b, "link", "set", "eth0", "up")
	nsA, _ := os.Open("/run/netns/" + a)
	nsB, _ := os.Open("/run/netns/" + b)
	defer nsA.Close()
	defer nsB.Close()

	var rx net.PacketConn
	var tx net.Conn
	if err := ns.Do(nsB, func() (err error) { rx, err = net.ListenPacket("udp4", "10.250.0.2:9"); return }); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	rx.(*net.UDPConn).SetReadBuffer(8 << 20)
	if err := ns.Do(nsA, func() (err error) { tx, err = net.Dial("udp4", "10.250.0.2:9"); return }); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	tgt := target.Target{Type: target.Netns, Netns: a, Interface: "flt-bench0"}
	fmt.Println("| rate | worker CPU (% of a core) | CPU per 1,000 packets/s | added delay p50 | p50 error | p99 error | lost |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for _, rate := range []int{1000, 10000} {
		base := oneWay(t, rx, tx, rate, time.Second)
		baseP50 := pct(base.lat, 50)
		rec := faulttest.NewRecord(t, "network.delay", &network.DelayParams{
			Latency: experiment.Duration(delay), Backend: network.NFQueue,
			Filter: network.Filter{Direction: "out", Protocol: "all", KeepSSH: true},
		}, tgt)
		k, _ := fault.Lookup("network.delay")
		if err := k.Inject(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		workers, _ := procfs.FindByEnv(fault.TagEnv, rec.ID)
		if len(workers) != 1 {
			t.Fatalf("%d workers", len(workers))
		}
		cpu0 := cpuSeconds(t, workers[0].PID)
		const d = 5 * time.Second
		m := oneWay(t, rx, tx, rate, d)
		cpu := (cpuSeconds(t, workers[0].PID) - cpu0) / d.Seconds() * 100
		if err := k.Recover(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		errs := make([]time.Duration, len(m.lat))
		for i, l := range m.lat {
			errs[i] = l - baseP50 - delay
		}
		fmt.Printf("| %d/s | %.1f%% | %.1f%% | %.2f ms | %+.2f ms | %+.2f ms | %d of %d |\n",
			rate, cpu, cpu/(float64(rate)/1000), ms(pct(m.lat, 50)-baseP50), ms(pct(errs, 50)), ms(pct(errs, 99)), m.sent-len(m.lat), m.sent)
	}
}

type measured struct {
	sent int
	lat  []time.Duration
}

// oneWay sends numbered, timestamped datagrams at rate for d (in batches
// every millisecond) and records each one's one-way latency.
func oneWay(t *testing.T, rx net.PacketConn, tx net.Conn, rate int, d time.Duration) measured {
	t.Helper()
	var mu sync.Mutex
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			rx.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, _, err := rx.ReadFrom(buf)
			if err != nil {
				return
			}
			if n == 16 {
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(buf[8:])))
				mu.Lock()
				lat = append(lat, time.Since(sent))
				mu.Unlock()
			}
		}
	}()
	start := time.Now()
	sent := 0
	msg := make([]byte, 16)
	for time.Since(start) < d {
		due := int(time.Since(start).Seconds() * float64(rate))
		for ; sent < due; sent++ {
			binary.BigEndian.PutUint64(msg, uint64(sent))
			binary.BigEndian.PutUint64(msg[8:], uint64(time.Now().UnixNano()))
			tx.Write(msg)
		}
		time.Sleep(time.Millisecond)
	}
	<-done
	return measured{sent: sent, lat: lat}
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// cpuSeconds is the CPU time (user+system) of pid, at USER_HZ 100.
func cpuSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	var u, s float64
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &s)
	return (u + s) / 100
}
