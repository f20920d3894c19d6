package network

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/experiment"
)

// Backend names a way to apply a fault; "auto" picks the best one this
// kernel has (see Caps).
type Backend string

// The backends.
const (
	Auto    Backend = "auto"
	Netem   Backend = "netem"   // tc netem qdisc
	NFQueue Backend = "nfqueue" // userspace worker behind an NFQUEUE rule
	NFT     Backend = "nft"     // nftables rules only
	TBF     Backend = "tbf"     // tc tbf (or htb with filters)
)

// DelayParams are the parameters of network.delay.
type DelayParams struct {
	Latency     experiment.Duration `yaml:"latency" json:"latency" doc:"added to every matching packet"`
	Jitter      experiment.Duration `yaml:"jitter" json:"jitter,omitempty" doc:"the delay varies uniformly by up to this much either way"`
	Correlation experiment.Percent  `yaml:"correlation" json:"correlation,omitempty" doc:"how much each packet's jitter follows the previous one's; needs nfqueue"`
	Backend     Backend             `yaml:"backend" json:"backend,omitempty" doc:"auto, netem or nfqueue"`
	Filter      `yaml:",inline"`
}

// Validate implements experiment.Validator.
func (p *DelayParams) Validate() error {
	var errs []error
	if p.Latency <= 0 {
		errs = append(errs, experiment.FieldErrorf("latency", "required: the delay to add, such as 100ms"))
	} else if p.Latency.D() > maxDelay {
		errs = append(errs, experiment.FieldErrorf("latency", "%s is more than %s", p.Latency, maxDelay))
	}
	if p.Jitter > p.Latency {
		errs = append(errs, experiment.FieldErrorf("jitter", "%s is more than the latency %s: a packet cannot leave before it was sent", p.Jitter, p.Latency))
	}
	return errors.Join(append(errs, checkBackend(p.Backend, Netem, NFQueue), checkCorrelation(p.Correlation, p.Backend), p.Filter.Validate())...)
}

// checkCorrelation refuses a correlation on a backend that cannot draw
// with one as asked (see uncorrelated).
func checkCorrelation(c experiment.Percent, b Backend) error {
	if c == 0 {
		return nil
	}
	switch b {
	case NFT:
		return experiment.FieldErrorf("correlation", "the nft backend draws each packet independently: use nfqueue (or auto), or no correlation")
	case Netem:
		return experiment.FieldErrorf("correlation", "netem's correlation skews the share of packets hit (its loss 20%% at 50%% correlation drops about 3%%): use nfqueue (or auto), or no correlation")
	}
	return nil
}

// maxDelay bounds delays: held packets occupy the kernel's queue.
const maxDelay = time.Minute

// LossParams are the parameters of network.loss.
type LossParams struct {
	Loss        experiment.Percent `yaml:"loss" json:"loss" doc:"share of matching packets dropped"`
	Correlation experiment.Percent `yaml:"correlation" json:"correlation,omitempty" doc:"how much each drop decision follows the previous one's (bursts); needs nfqueue"`
	Backend     Backend            `yaml:"backend" json:"backend,omitempty" doc:"auto, nft, netem or nfqueue"`
	Filter      `yaml:",inline"`
}

// Validate implements experiment.Validator.
func (p *LossParams) Validate() error {
	return errors.Join(checkShare("loss", p.Loss), checkBackend(p.Backend, NFT, Netem, NFQueue), checkCorrelation(p.Correlation, p.Backend), p.Filter.Validate())
}

// CorruptParams are the parameters of network.corrupt.
type CorruptParams struct {
	Corrupt     experiment.Percent `yaml:"corrupt" json:"corrupt" doc:"share of matching packets with one bit flipped"`
	Correlation experiment.Percent `yaml:"correlation" json:"correlation,omitempty" doc:"how much each decision follows the previous one's; needs nfqueue"`
	// FixChecksum makes the corruption reach the application: the
	// transport checksum is recomputed after the bit flip (nfqueue only).
	FixChecksum bool    `yaml:"fixChecksum" json:"fixChecksum,omitempty" doc:"recompute the TCP/UDP checksum so the corrupted payload reaches the application (nfqueue); else the receiver's stack drops the packet, as on a real bad link"`
	Backend     Backend `yaml:"backend" json:"backend,omitempty" doc:"auto, netem or nfqueue"`
	Filter      `yaml:",inline"`
}

// Validate implements experiment.Validator.
func (p *CorruptParams) Validate() error {
	errs := []error{checkShare("corrupt", p.Corrupt), checkBackend(p.Backend, Netem, NFQueue), checkCorrelation(p.Correlation, p.Backend), p.Filter.Validate()}
	if p.FixChecksum && p.Backend == Netem {
		errs = append(errs, experiment.FieldErrorf("fixChecksum", "netem cannot fix checksums: use the nfqueue backend"))
	}
	return errors.Join(errs...)
}

// DuplicateParams are the parameters of network.duplicate.
type DuplicateParams struct {
	Duplicate   experiment.Percent `yaml:"duplicate" json:"duplicate" doc:"share of matching packets sent twice"`
	Correlation experiment.Percent `yaml:"correlation" json:"correlation,omitempty" doc:"how much each decision follows the previous one's; needs nfqueue"`
	Backend     Backend            `yaml:"backend" json:"backend,omitempty" doc:"auto, netem or nfqueue"`
	Filter      `yaml:",inline"`
}

// Validate implements experiment.Validator.
func (p *DuplicateParams) Validate() error {
	errs := []error{checkShare("duplicate", p.Duplicate), checkBackend(p.Backend, Netem, NFQueue), checkCorrelation(p.Correlation, p.Backend), p.Filter.Validate()}
	if p.Direction != "out" {
		errs = append(errs, experiment.FieldErrorf("direction", "duplicates are sent on the way out only: use out"))
	}
	return errors.Join(errs...)
}

// ReorderParams are the parameters of network.reorder.
type ReorderParams struct {
	Reorder     experiment.Percent  `yaml:"reorder" json:"reorder" doc:"share of matching packets held back, so later packets overtake them"`
	Delay       experiment.Duration `yaml:"delay" json:"delay" doc:"how long a held-back packet waits"`
	Correlation experiment.Percent  `yaml:"correlation" json:"correlation,omitempty" doc:"how much each decision follows the previous one's; needs nfqueue"`
	Backend     Backend             `yaml:"backend" json:"backend,omitempty" doc:"auto, netem or nfqueue"`
	Filter      `yaml:",inline"`
}

// Validate implements experiment.Validator.
func (p *ReorderParams) Validate() error {
	errs := []error{checkShare("reorder", p.Reorder), checkBackend(p.Backend, Netem, NFQueue), checkCorrelation(p.Correlation, p.Backend), p.Filter.Validate()}
	if p.Delay <= 0 || p.Delay.D() > maxDelay {
		errs = append(errs, experiment.FieldErrorf("delay", "want a hold time above 0 and at most %s, such as 10ms", maxDelay))
	}
	return errors.Join(errs...)
}

// BandwidthParams are the parameters of network.bandwidth.
type BandwidthParams struct {
	Rate   Rate            `yaml:"rate" json:"rate" doc:"the rate to allow, such as 1mbit, 500kbit or 10mbps (bytes)"`
	Burst  experiment.Size `yaml:"burst" json:"burst,omitempty" doc:"bytes that may go at once above the rate (default: 10ms worth, at least 3 packets)"`
	Limit  experiment.Size `yaml:"limit" json:"limit,omitempty" doc:"bytes that may wait in the queue; more are dropped (default: 400ms worth)"`
	Filter `yaml:",inline"`
}

// Validate implements experiment.Validator.
func (p *BandwidthParams) Validate() error {
	var errs []error
	if p.Rate < 8 {
		errs = append(errs, experiment.FieldErrorf("rate", "required: a rate of at least 8bit, such as 1mbit"))
	}
	if p.Direction != "out" {
		errs = append(errs, experiment.FieldErrorf("direction", "shaping acts on the way out of the interface: use out (to slow a download, shape the sender)"))
	}
	return errors.Join(append(errs, p.Filter.Validate())...)
}

// PartitionParams are the parameters of network.partition.
type PartitionParams struct {
	Filter `yaml:",inline"`
}

// Validate implements experiment.Validator.
func (p *PartitionParams) Validate() error {
	var errs []error
	if len(p.Peers) == 0 {
		errs = append(errs, experiment.FieldErrorf("peers", "required: the addresses or CIDRs to cut the target off from"))
	}
	return errors.Join(append(errs, p.Filter.Validate())...)
}

// BlackholeParams are the parameters of network.blackhole.
type BlackholeParams struct {
	Filter `yaml:",inline"`
}

// Validate implements experiment.Validator.
func (p *BlackholeParams) Validate() error {
	var errs []error
	if len(p.Peers) == 0 && len(p.Ports) == 0 && len(p.LocalPorts) == 0 {
		errs = append(errs, experiment.FieldErrorf("ports", "give ports, localPorts or peers: a blackhole swallows chosen traffic (to cut everything, use network.partition with peers: [0.0.0.0/0])"))
	}
	return errors.Join(append(errs, p.Filter.Validate())...)
}

// RejectParams are the parameters of network.reject.
type RejectParams struct {
	With   string `yaml:"with" json:"with,omitempty" doc:"auto (TCP reset for TCP, ICMP port unreachable for the rest), tcp-reset or icmp-unreachable"`
	Filter `yaml:",inline"`
}

// Validate implements experiment.Validator.
func (p *RejectParams) Validate() error {
	var errs []error
	switch p.With {
	case "auto", "icmp-unreachable":
	case "tcp-reset":
		if p.Protocol != "tcp" {
			errs = append(errs, experiment.FieldErrorf("protocol", "a TCP reset answers TCP only: set protocol: tcp, or with: auto"))
		}
	default:
		errs = append(errs, experiment.FieldErrorf("with", "%q: use auto, tcp-reset or icmp-unreachable", p.With))
	}
	if len(p.Peers) == 0 && len(p.Ports) == 0 && len(p.LocalPorts) == 0 {
		errs = append(errs, experiment.FieldErrorf("ports", "give ports, localPorts or peers: which connections to refuse"))
	}
	return errors.Join(append(errs, p.Filter.Validate())...)
}

// DNSParams are the parameters of network.dns.
type DNSParams struct {
	Names   []string `yaml:"names" json:"names" doc:"names to tamper with; *.example.com matches every name under example.com"`
	Address string   `yaml:"address" json:"address,omitempty" doc:"answer this address instead (A for IPv4, AAAA for IPv6; the other type gets no answer)"`
	Fail    string   `yaml:"fail" json:"fail,omitempty" doc:"instead of an address: nxdomain, servfail or timeout (the answer is dropped)"`
	Servers []string `yaml:"servers" json:"servers,omitempty" doc:"only answers from these DNS servers (addresses or CIDRs; default: any)"`
	TTL     uint32   `yaml:"ttl" json:"ttl,omitempty" doc:"TTL of the forged answers, in seconds"`
}

var dnsNameRE = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$`)

// Validate implements experiment.Validator.
func (p *DNSParams) Validate() error {
	var errs []error
	if len(p.Names) == 0 {
		errs = append(errs, experiment.FieldErrorf("names", "required: the names to answer wrongly, such as [db.internal, \"*.example.com\"]"))
	}
	for _, n := range p.Names {
		if !dnsNameRE.MatchString(n) {
			errs = append(errs, experiment.FieldErrorf("names", "%q is not a DNS name (a leading *. matches names under it)", n))
		}
	}
	switch {
	case (p.Address == "") == (p.Fail == ""):
		errs = append(errs, experiment.FieldErrorf("address", "give exactly one of address (a wrong answer) or fail (nxdomain, servfail, timeout)"))
	case p.Address != "":
		if _, err := netip.ParseAddr(p.Address); err != nil {
			errs = append(errs, experiment.FieldErrorf("address", "%q is not an IP address", p.Address))
		}
	default:
		switch p.Fail {
		case "nxdomain", "servfail", "timeout":
		default:
			errs = append(errs, experiment.FieldErrorf("fail", "%q: use nxdomain, servfail or timeout", p.Fail))
		}
	}
	if _, err := prefixes(p.Servers); err != nil {
		errs = append(errs, experiment.FieldErrorf("servers", "%v", err))
	}
	return errors.Join(errs...)
}

func checkShare(field string, p experiment.Percent) error {
	if p <= 0 || p > 100 {
		return experiment.FieldErrorf(field, "%v%% is out of range: want more than 0%% and at most 100%%", float64(p))
	}
	return nil
}

func checkBackend(b Backend, allowed ...Backend) error {
	if b == Auto {
		return nil
	}
	for _, a := range allowed {
		if b == a {
			return nil
		}
	}
	names := []string{string(Auto)}
	for _, a := range allowed {
		names = append(names, string(a))
	}
	return experiment.FieldErrorf("backend", "%q: use %s", b, strings.Join(names, ", "))
}

// Rate is a rate in bits per second, written as tc writes it: 1mbit,
// 500kbit, 2gbit, 100bit, or in bytes per second with bps (10mbps).
// Units are decimal, as tc's.
type Rate uint64

var rateRE = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$`)

var rateUnits = map[string]float64{
	"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9,
	"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9,
}

// ParseRate parses a rate.
func ParseRate(s string) (Rate, error) {
	m := rateRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("bad rate %q: want a number with a unit such as 1mbit, 500kbit or 10mbps", s)
	}
	unit, ok := rateUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("bad rate %q: unknown unit %q (use bit, kbit, mbit, gbit, or bps, kbps, mbps, gbps for bytes)", s, m[2])
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	return Rate(f * unit), nil
}

// BytesPerSecond is the rate in bytes per second.
func (r Rate) BytesPerSecond() uint64 { return uint64(r) / 8 }

func (r Rate) String() string {
	for _, u := range []struct {
		name string
		div  uint64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if uint64(r) >= u.div && uint64(r)%(u.div/1000) == 0 {
			return strconv.FormatFloat(float64(r)/float64(u.div), 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatUint(uint64(r), 10) + "bit"
}

// DecodeNode implements experiment.NodeDecoder.
func (r *Rate) DecodeNode(d *experiment.Decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode {
		d.Errorf(n, path, "want a rate such as 1mbit")
		return
	}
	v, err := ParseRate(n.Value)
	if err != nil {
		d.Errorf(n, path, "%v", err)
		return
	}
	*r = v
}

// MarshalJSON writes the rate as a string.
func (r Rate) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(r.String())), nil }

// UnmarshalJSON reads a string ("1mbit") or a number of bits per second.
func (r *Rate) UnmarshalJSON(b []byte) error {
	if n, err := strconv.ParseUint(string(b), 10, 64); err == nil {
		*r = Rate(n)
		return nil
	}
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("rate: want a string such as \"1mbit\"")
	}
	v, err := ParseRate(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}
