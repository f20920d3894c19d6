package network_test

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault/network"
)

// TestCorrupt flips a bit in 10% of a's datagrams, through each backend:
// without the checksum fixed the receiver's stack drops them; with it
// fixed (nfqueue only) about 10% of the echoes differ from what was sent.
func TestCorrupt(t *testing.T) {
	for _, backend := range backends(t, network.Netem, network.NFQueue) {
		t.Run(string(backend), func(t *testing.T) {
			fixes := []bool{false}
			if backend == network.NFQueue {
				fixes = append(fixes, true)
			}
			for _, fix := range fixes {
				name := map[bool]string{true: "fixChecksum", false: "badChecksum"}[fix]
				t.Run(name, func(t *testing.T) {
					l := newLab(t)
					c := echoPath(t, l)
					inject(t, "network.corrupt", &network.CorruptParams{Corrupt: 10, FixChecksum: fix, Backend: backend, Filter: filter("out")}, l.target())
					s := echoBurst(t, c, 3000, 64, 3000)
					if fix {
						within(t, "damaged echoes (%)", 100*float64(s.damaged)/float64(s.sent), 10, 3)
						within(t, "lost (%)", 100*float64(s.sent-s.back-s.damaged)/float64(s.sent), 0, 1)
					} else {
						within(t, "lost (%)", 100*float64(s.sent-s.back)/float64(s.sent), 10, 3)
						within(t, "damaged echoes (%)", 100*float64(s.damaged)/float64(s.sent), 0, 0.5)
					}
				})
			}
		})
	}
}

// TestDuplicate sends 10% of a's datagrams twice, through each backend.
func TestDuplicate(t *testing.T) {
	for _, backend := range backends(t, network.Netem, network.NFQueue) {
		t.Run(string(backend), func(t *testing.T) {
			l := newLab(t)
			c := echoPath(t, l)
			inject(t, "network.duplicate", &network.DuplicateParams{Duplicate: 10, Backend: backend, Filter: filter("out")}, l.target())
			s := echoBurst(t, c, 3000, 32, 3000)
			within(t, "duplicated (%)", 100*float64(s.dups)/float64(s.sent), 10, 3)
			within(t, "lost (%)", 100*float64(s.sent-s.back)/float64(s.sent), 0, 1)
		})
	}
}

// TestReorder holds back 20% of a stream sent every 0.5ms for 10ms,
// through each backend: each held datagram arrives after later ones.
func TestReorder(t *testing.T) {
	for _, backend := range backends(t, network.Netem, network.NFQueue) {
		t.Run(string(backend), func(t *testing.T) {
			l := newLab(t)
			var srv net.PacketConn
			in(t, l.nsB, func() (err error) { srv, err = net.ListenPacket("udp4", l.addrB+":9"); return })
			t.Cleanup(func() { srv.Close() })
			c := udpClient(t, l.nsA, l.addrB+":9")
			inject(t, "network.reorder", &network.ReorderParams{Reorder: 20, Delay: experiment.Duration(10 * time.Millisecond), Backend: backend, Filter: filter("out")}, l.target())
			const n = 3000
			late, got := 0, 0
			done := make(chan struct{})
			go func() {
				defer close(done)
				maxSeen := -1
				buf := make([]byte, 64)
				for got < n {
					srv.SetReadDeadline(time.Now().Add(time.Second))
					k, _, err := srv.ReadFrom(buf)
					if err != nil || k < 4 {
						return
					}
					got++
					i := int(binary.BigEndian.Uint32(buf))
					if i < maxSeen {
						late++
					} else {
						maxSeen = i
					}
				}
			}()
			start := time.Now()
			for i := range n {
				c.Write(binary.BigEndian.AppendUint32(nil, uint32(i)))
				if d := time.Until(start.Add(time.Duration(i+1) * 500 * time.Microsecond)); d > 0 {
					time.Sleep(d)
				}
			}
			<-done
			if got < n*99/100 {
				t.Fatalf("%d of %d arrived", got, n)
			}
			within(t, "arrived after a later one (%)", 100*float64(late)/float64(got), 20, 4)
		})
	}
}

// TestBandwidth limits a's outgoing rate to 8mbit (1 MB/s), for all its
// traffic (tbf) and for one port only (htb + u32), and measures a TCP
// stream's rate at b after the first second.
func TestBandwidth(t *testing.T) {
	for _, ports := range [][]string{nil, {"5001"}} {
		name := "all traffic (tbf)"
		if ports != nil {
			name = "port 5001 (htb)"
		}
		t.Run(name, func(t *testing.T) {
			l := newLab(t)
			f := filter("out")
			f.Ports = ports
			if ports != nil {
				f.Protocol = "tcp"
			}
			inject(t, "network.bandwidth", &network.BandwidthParams{Rate: 8e6, Filter: f}, l.target())
			got := tcpRate(t, l, "5001", 3*time.Second)
			within(t, "rate (Mbit/s)", got*8/1e6, 8, 0.8)
			if ports != nil {
				free := tcpRate(t, l, "5002", 2*time.Second)
				if free*8/1e6 < 30 {
					t.Errorf("port 5002 ran at %.1f Mbit/s: only 5001 was limited", free*8/1e6)
				}
			}
		})
	}
}

// tcpRate streams from a to b's port for d and returns the rate b
// received at after the first second, in bytes per second.
func tcpRate(t *testing.T, l *lab, port string, d time.Duration) float64 {
	t.Helper()
	var ln net.Listener
	in(t, l.nsB, func() (err error) { ln, err = net.Listen("tcp4", l.addrB+":"+port); return })
	defer ln.Close()
	var conn net.Conn
	in(t, l.nsA, func() (err error) { conn, err = net.DialTimeout("tcp4", l.addrB+":"+port, 2*time.Second); return })
	stop := time.Now().Add(d)
	go func() {
		defer conn.Close()
		buf := make([]byte, 32<<10)
		for time.Now().Before(stop) {
			conn.SetWriteDeadline(stop)
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	buf := make([]byte, 64<<10)
	var n int64
	start := time.Now()
	from := start.Add(time.Second)
	for {
		srv.SetReadDeadline(stop.Add(time.Second))
		k, err := srv.Read(buf)
		if time.Now().After(from) && time.Now().Before(stop) {
			n += int64(k)
		}
		if err != nil || !time.Now().Before(stop) {
			break
		}
	}
	return float64(n) / stop.Sub(from).Seconds()
}

// TestReject refuses TCP with a reset and UDP with ICMP port unreachable:
// the caller learns at once, where a blackhole leaves it waiting.
func TestReject(t *testing.T) {
	l := newLab(t)
	var ln net.Listener
	in(t, l.nsB, func() (err error) { ln, err = net.Listen("tcp4", l.addrB+":80"); return })
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	udpEcho(t, l.nsB, l.addrB+":53")
	f := filter("out")
	f.Ports = []string{"80", "53"}
	rec := inject(t, "network.reject", &network.RejectParams{With: "auto", Filter: f}, l.target())
	start := time.Now()
	var err error
	in(t, l.nsA, func() error {
		var c net.Conn
		c, err = net.DialTimeout("tcp4", l.addrB+":80", 2*time.Second)
		if err == nil {
			c.Close()
		}
		return nil
	})
	if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > 500*time.Millisecond {
		t.Errorf("TCP connect: %v after %v, want connection refused at once", err, time.Since(start))
	}
	u := udpClient(t, l.nsA, l.addrB+":53")
	u.Write([]byte("x"))
	u.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := u.Read(make([]byte, 8)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("UDP: %v, want connection refused (ICMP port unreachable)", err)
	}
	recoverFault(t, rec)
	in(t, l.nsA, func() error {
		var c net.Conn
		c, err = net.DialTimeout("tcp4", l.addrB+":80", 2*time.Second)
		if err == nil {
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Errorf("TCP connect after recovery: %v", err)
	}
}

// TestDNS forges the answer for one name, fails another, leaves a third
// alone, and restores them all on recovery.
func TestDNS(t *testing.T) {
	l := newLab(t)
	real := net.ParseIP("10.0.0.7")
	var pc net.PacketConn
	in(t, l.nsB, func() (err error) { pc, err = net.ListenPacket("udp4", l.addrB+":53"); return })
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: real}}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	ask := func(name string) (string, int, error) {
		var r *dns.Msg
		var err error
		in(t, l.nsA, func() error {
			c := &dns.Client{Timeout: 300 * time.Millisecond}
			q := new(dns.Msg)
			q.SetQuestion(dns.Fqdn(name), dns.TypeA)
			r, _, err = c.Exchange(q, l.addrB+":53")
			return nil
		})
		if err != nil {
			return "", 0, err
		}
		if len(r.Answer) == 0 {
			return "", r.Rcode, nil
		}
		return r.Answer[0].(*dns.A).A.String(), r.Rcode, nil
	}
	expect := func(name, addr string, rcode int) {
		t.Helper()
		got, rc, err := ask(name)
		if err != nil || got != addr || rc != rcode {
			t.Errorf("%s: %q rcode %d err %v; want %q rcode %d", name, got, rc, err, addr, rcode)
		}
	}
	tgt := l.target()
	wrong := inject(t, "network.dns", &network.DNSParams{Names: []string{"db.test"}, Address: "10.66.6.6", TTL: 5}, tgt)
	fail := inject(t, "network.dns", &network.DNSParams{Names: []string{"*.gone.test"}, Fail: "nxdomain", TTL: 5}, tgt)
	expect("db.test", "10.66.6.6", dns.RcodeSuccess)
	expect("api.gone.test", "", dns.RcodeNameError)
	expect("web.test", real.String(), dns.RcodeSuccess)
	recoverFault(t, fail)
	recoverFault(t, wrong)
	expect("db.test", real.String(), dns.RcodeSuccess)
	expect("api.gone.test", real.String(), dns.RcodeSuccess)
}
