package nfq

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// DNS rewrites the answers to queries for some names, as they arrive
// (UDP from port 53).
type DNS struct {
	// Names are matched without case; "*.example.com" matches every name
	// under example.com (not example.com itself).
	Names []string
	// Address is the forged answer (A for IPv4, AAAA for IPv6; the other
	// type gets an empty answer). Empty means Fail.
	Address string `json:",omitempty"`
	// Fail is nxdomain, servfail or timeout (the answer is dropped).
	Fail string `json:",omitempty"`
	TTL  uint32
}

// DNSVerdict is what Rewrite did.
type DNSVerdict int

// What Rewrite may do.
const (
	DNSPass      DNSVerdict = iota // not a matching DNS answer: unchanged
	DNSRewritten                   // the answer was forged
	DNSDrop                        // the answer must be dropped (fail: timeout)
)

// Matches reports whether name (fully qualified or not) is one of d's.
func (d *DNS) Matches(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, n := range d.Names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if suffix, ok := strings.CutPrefix(n, "*."); ok {
			if strings.HasSuffix(name, "."+suffix) {
				return true
			}
		} else if name == n {
			return true
		}
	}
	return false
}

// Rewrite forges the DNS answer in pkt (an IP packet carrying UDP from
// port 53) when its question is for one of d's names.
func (d *DNS) Rewrite(pkt []byte) ([]byte, DNSVerdict) {
	ip, ok := parseIP(pkt)
	if !ok || ip.proto != protoUDP || ip.l4HeaderLen(pkt) != 8 {
		return nil, DNSPass
	}
	udp := pkt[ip.l4:]
	if udp[0] != 0 || udp[1] != 53 {
		return nil, DNSPass
	}
	var m dns.Msg
	if err := m.Unpack(udp[8:]); err != nil || !m.Response || len(m.Question) != 1 || !d.Matches(m.Question[0].Name) {
		return nil, DNSPass
	}
	switch d.Fail {
	case "timeout":
		return nil, DNSDrop
	case "nxdomain":
		m.Rcode = dns.RcodeNameError
		m.Answer, m.Ns, m.Extra = nil, nil, nil
	case "servfail":
		m.Rcode = dns.RcodeServerFailure
		m.Answer, m.Ns, m.Extra = nil, nil, nil
	default:
		d.forge(&m)
	}
	body, err := m.Pack()
	if err != nil {
		return nil, DNSPass
	}
	out := make([]byte, ip.l4+8+len(body))
	copy(out, pkt[:ip.l4+8])
	copy(out[ip.l4+8:], body)
	l := len(out) - ip.l4
	out[ip.l4+4], out[ip.l4+5] = byte(l>>8), byte(l)
	fixIPHeader(out, ip)
	if !ip.v6 { // a UDP checksum of 0 (none) must be replaced to be recomputed
		out[ip.l4+6], out[ip.l4+7] = 0xff, 0xff
	}
	fixTransportChecksum(out, ip)
	return out, DNSRewritten
}

// forge replaces the answer section with the configured address.
func (d *DNS) forge(m *dns.Msg) {
	q := m.Question[0]
	addr, _ := netip.ParseAddr(d.Address) // validated by the fault's parameters
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: d.TTL}
	m.Rcode = dns.RcodeSuccess
	m.Answer, m.Ns = nil, nil
	switch {
	case q.Qtype == dns.TypeA && addr.Is4():
		hdr.Rrtype = dns.TypeA
		m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: addr.AsSlice()}}
	case q.Qtype == dns.TypeAAAA && addr.Is6():
		hdr.Rrtype = dns.TypeAAAA
		m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: addr.AsSlice()}}
	}
}
