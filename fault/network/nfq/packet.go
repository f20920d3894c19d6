package nfq

import (
	"encoding/binary"
	"net/netip"
)

// Layer-4 protocols the engine looks into.
const (
	protoTCP = 6
	protoUDP = 17
)

// ipPacket locates the parts of an IP packet.
type ipPacket struct {
	v6       bool
	src, dst netip.Addr
	proto    uint8
	l4       int // offset of the transport header
}

// parseIP reads an IPv4 or IPv6 header (IPv6 extension headers are not
// followed: such packets report their first next-header).
func parseIP(b []byte) (ipPacket, bool) {
	if len(b) < 20 {
		return ipPacket{}, false
	}
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return ipPacket{}, false
		}
		return ipPacket{src: netip.AddrFrom4([4]byte(b[12:16])), dst: netip.AddrFrom4([4]byte(b[16:20])), proto: b[9], l4: ihl}, true
	case 6:
		if len(b) < 40 {
			return ipPacket{}, false
		}
		return ipPacket{v6: true, src: netip.AddrFrom16([16]byte(b[8:24])), dst: netip.AddrFrom16([16]byte(b[24:40])), proto: b[6], l4: 40}, true
	}
	return ipPacket{}, false
}

// l4HeaderLen is the length of the transport header at b[ip.l4:], or 0.
func (ip ipPacket) l4HeaderLen(b []byte) int {
	switch ip.proto {
	case protoUDP:
		if len(b) >= ip.l4+8 {
			return 8
		}
	case protoTCP:
		if len(b) >= ip.l4+20 {
			if n := int(b[ip.l4+12]>>4) * 4; n >= 20 && len(b) >= ip.l4+n {
				return n
			}
		}
	}
	return 0
}

// checksumOffset is where the transport checksum sits, or -1.
func (ip ipPacket) checksumOffset() int {
	switch ip.proto {
	case protoUDP:
		return ip.l4 + 6
	case protoTCP:
		return ip.l4 + 16
	}
	return -1
}

// sum16 adds b as big-endian 16-bit words to s (one's complement, folded
// later).
func sum16(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// fixTransportChecksum recomputes the TCP or UDP checksum of b in place
// (the pseudo-header included). A UDP checksum of 0 over IPv4 means
// "none" and stays so.
func fixTransportChecksum(b []byte, ip ipPacket) {
	off := ip.checksumOffset()
	if off < 0 || off+2 > len(b) {
		return
	}
	if ip.proto == protoUDP && !ip.v6 && binary.BigEndian.Uint16(b[off:]) == 0 {
		return
	}
	binary.BigEndian.PutUint16(b[off:], 0)
	l4len := len(b) - ip.l4
	s := sum16(0, ip.src.AsSlice())
	s = sum16(s, ip.dst.AsSlice())
	s += uint32(ip.proto) + uint32(l4len)
	s = sum16(s, b[ip.l4:])
	c := fold(s)
	if c == 0 && ip.proto == protoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(b[off:], c)
}

// fixIPv4 sets the total length and header checksum of an IPv4 packet
// (or the payload length of an IPv6 one) after its size changed.
func fixIPHeader(b []byte, ip ipPacket) {
	if ip.v6 {
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
		return
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[10:], 0)
	binary.BigEndian.PutUint16(b[10:], fold(sum16(0, b[:ip.l4])))
}

// Corrupt returns a copy of pkt with one bit flipped, chosen by r: in the
// transport payload, or in the transport header when there is no payload
// (then only without fixChecksum, since a "valid" damaged header is not a
// corruption any link produces). With fixChecksum the transport checksum
// is recomputed, so the damage reaches the application.
func Corrupt(pkt []byte, r uint64, fixChecksum bool) ([]byte, bool) {
	ip, ok := parseIP(pkt)
	if !ok || len(pkt) <= ip.l4 {
		return nil, false
	}
	start := ip.l4 + ip.l4HeaderLen(pkt)
	if start >= len(pkt) { // no payload
		if fixChecksum {
			return nil, false
		}
		start = ip.l4
	}
	out := append([]byte(nil), pkt...)
	n := uint64(len(out)-start) * 8
	bit := r % n
	out[start+int(bit/8)] ^= 1 << (bit % 8)
	if fixChecksum {
		fixTransportChecksum(out, ip)
	}
	return out, true
}
