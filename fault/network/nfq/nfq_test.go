package nfq

import (
	"encoding/binary"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// udp4 builds an IPv4/UDP packet with correct checksums.
func udp4(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 28+len(payload))
	b[0], b[8], b[9] = 0x45, 64, protoUDP
	copy(b[12:], []byte{10, 0, 0, 1})
	copy(b[16:], []byte{10, 0, 0, 2})
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	b[26] = 0xff // non-zero: computed below
	copy(b[28:], payload)
	ip, _ := parseIP(b)
	fixIPHeader(b, ip)
	fixTransportChecksum(b, ip)
	return b
}

func checksumOK(b []byte) bool {
	ip, _ := parseIP(b)
	s := sum16(0, ip.src.AsSlice())
	s = sum16(s, ip.dst.AsSlice())
	s += uint32(ip.proto) + uint32(len(b)-ip.l4)
	return fold(sum16(s, b[ip.l4:])) == 0 && fold(sum16(0, b[:ip.l4])) == 0
}

// TestPolicyShares draws 100,000 decisions per setting: the shares come
// out as configured, correlated or not, and delays stay in their bounds.
func TestPolicyShares(t *testing.T) {
	pkt := udp4(1000, 7, []byte("hello, world"))
	for _, tc := range []struct {
		name string
		cfg  Config
		want func(a Action) bool
		p    float64
	}{
		{"loss 20%", Config{Loss: 0.2}, func(a Action) bool { return a.Drop }, 0.2},
		{"loss 20% correlated 50%", Config{Loss: 0.2, LossCorr: 0.5}, func(a Action) bool { return a.Drop }, 0.2},
		{"duplicate 5%", Config{Duplicate: 0.05}, func(a Action) bool { return a.Duplicate }, 0.05},
		{"corrupt 10%", Config{Corrupt: 0.1}, func(a Action) bool { return a.Packet != nil }, 0.1},
		{"reorder 25%", Config{Reorder: 0.25, Hold: 10 * time.Millisecond}, func(a Action) bool { return a.After == 10*time.Millisecond }, 0.25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPolicy(tc.cfg, 42)
			const n = 100000
			k := 0
			for range n {
				if tc.want(p.Decide(pkt)) {
					k++
				}
			}
			tol := 0.01 // correlation keeps the share (only bursts it)
			if got := float64(k) / n; math.Abs(got-tc.p) > tol {
				t.Errorf("share %.4f, want %.2f ± %.2f", got, tc.p, tol)
			}
		})
	}
	p := NewPolicy(Config{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}, 1)
	for range 10000 {
		if a := p.Decide(pkt); a.After < 40*time.Millisecond || a.After > 60*time.Millisecond {
			t.Fatalf("delay %v outside 50ms ± 10ms", a.After)
		}
	}
}

// TestCorrupt flips exactly one payload bit; the checksum is then right
// with fixChecksum and wrong without.
func TestCorrupt(t *testing.T) {
	pkt := udp4(1000, 7, []byte("0123456789abcdef"))
	for _, fix := range []bool{true, false} {
		for r := range uint64(200) {
			out, ok := Corrupt(pkt, r*7919, fix)
			if !ok {
				t.Fatal("not corrupted")
			}
			flipped := 0
			for i := 28; i < len(out); i++ {
				for x := out[i] ^ pkt[i]; x != 0; x &= x - 1 {
					flipped++
				}
			}
			if flipped != 1 || checksumOK(out) != fix {
				t.Fatalf("fix=%v: %d bits flipped in the payload, checksum ok %v", fix, flipped, checksumOK(out))
			}
		}
	}
	if _, ok := Corrupt(udp4(1, 2, nil), 3, true); ok {
		t.Error("corrupted a packet without payload with a fixed checksum")
	}
}

// TestDNSRewrite forges, fails and drops answers for matching names only.
func TestDNSRewrite(t *testing.T) {
	answer := func(name string, qtype uint16) []byte {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Response = true
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: netip.MustParseAddr("10.0.0.7").AsSlice()}}
		b, _ := m.Pack()
		return udp4(53, 40000, b)
	}
	parse := func(t *testing.T, pkt []byte) *dns.Msg {
		t.Helper()
		if !checksumOK(pkt) || int(binary.BigEndian.Uint16(pkt[2:])) != len(pkt) {
			t.Fatal("bad checksum or length after the rewrite")
		}
		var m dns.Msg
		if err := m.Unpack(pkt[28:]); err != nil {
			t.Fatal(err)
		}
		return &m
	}
	d := &DNS{Names: []string{"db.test", "*.svc.test"}, Address: "10.6.6.6", TTL: 5}
	out, v := d.Rewrite(answer("DB.test.", dns.TypeA))
	if v != DNSRewritten || parse(t, out).Answer[0].(*dns.A).A.String() != "10.6.6.6" {
		t.Errorf("db.test: verdict %v", v)
	}
	if _, v := d.Rewrite(answer("x.svc.test.", dns.TypeA)); v != DNSRewritten {
		t.Errorf("x.svc.test: verdict %v", v)
	}
	if _, v := d.Rewrite(answer("svc.test.", dns.TypeA)); v != DNSPass {
		t.Errorf("svc.test (not under *.svc.test): verdict %v", v)
	}
	if out, v := d.Rewrite(answer("db.test.", dns.TypeAAAA)); v != DNSRewritten || len(parse(t, out).Answer) != 0 {
		t.Errorf("AAAA for db.test with an IPv4 address: verdict %v, want an empty answer", v)
	}
	nx := &DNS{Names: []string{"db.test"}, Fail: "nxdomain"}
	if out, v := nx.Rewrite(answer("db.test.", dns.TypeA)); v != DNSRewritten || parse(t, out).Rcode != dns.RcodeNameError {
		t.Errorf("nxdomain: verdict %v", v)
	}
	if _, v := (&DNS{Names: []string{"db.test"}, Fail: "timeout"}).Rewrite(answer("db.test.", dns.TypeA)); v != DNSDrop {
		t.Errorf("timeout: verdict %v", v)
	}
	if _, v := d.Rewrite(udp4(5353, 40000, []byte("not dns"))); v != DNSPass {
		t.Errorf("not from port 53: verdict %v", v)
	}
}
