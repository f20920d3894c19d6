// Package nfq is the userspace packet engine of the network faults, for
// kernels without netem: a reader of an NFQUEUE queue that delays, drops,
// duplicates, corrupts, reorders packets and rewrites DNS answers, as
// netem would, deciding per packet with correlated random draws.
//
// Policy decides what happens to one packet (pure, seeded, tested as a
// table); Run is the thin loop that reads the queue and carries the
// decisions out at the right time.
package nfq

import (
	"math/rand/v2"
	"time"
)

// Config is what a worker does to the packets of its queue. Shares are
// fractions in 0..1; correlations too (the chance a draw repeats the
// previous one).
type Config struct {
	// Delay (with Jitter: uniform in Delay±Jitter) holds every packet.
	Delay, Jitter time.Duration
	DelayCorr     float64
	// Loss drops packets.
	Loss, LossCorr float64
	// Duplicate sends a copy of the packet right after it.
	Duplicate, DuplicateCorr float64
	// Corrupt flips one bit of the packet's transport payload (or header,
	// without a payload); FixChecksum recomputes the transport checksum
	// so the damage reaches the application.
	Corrupt, CorruptCorr float64
	FixChecksum          bool
	// Reorder holds a share of the packets for Hold, so the packets after
	// them overtake them; the others go at once (plus any Delay).
	Reorder, ReorderCorr float64
	Hold                 time.Duration
	// DNS rewrites DNS answers (nil: none).
	DNS *DNS `json:",omitempty"`
}

// Action is the decision for one packet.
type Action struct {
	Drop bool
	// After is how long to hold the packet before it goes on.
	After time.Duration
	// Duplicate sends a copy of the (possibly modified) packet too.
	Duplicate bool
	// Packet replaces the packet when not nil.
	Packet []byte
}

// correlated draws uniform numbers in [0, 1) where each repeats the
// previous one with probability rho: the share of packets a fault hits
// stays what was asked (netem's own correlation skews it), and rho is how
// much each decision follows the previous one, making bursts.
type correlated struct {
	rho  float64
	last float64
	set  bool
}

func (c *correlated) next(r *rand.Rand) float64 {
	if c.rho > 0 && c.set && r.Float64() < c.rho {
		return c.last
	}
	c.last, c.set = r.Float64(), true
	return c.last
}

// Policy decides per packet. It is not safe for concurrent use.
type Policy struct {
	cfg                                Config
	rng                                *rand.Rand
	delay, loss, dup, corrupt, reorder correlated
}

// NewPolicy makes the policy of cfg drawing from a generator seeded with
// seed.
func NewPolicy(cfg Config, seed uint64) *Policy {
	return &Policy{
		cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x6e6671)),
		delay: correlated{rho: cfg.DelayCorr}, loss: correlated{rho: cfg.LossCorr},
		dup: correlated{rho: cfg.DuplicateCorr}, corrupt: correlated{rho: cfg.CorruptCorr},
		reorder: correlated{rho: cfg.ReorderCorr},
	}
}

// Decide says what to do with pkt (an IPv4 or IPv6 packet). It may
// return a modified copy; pkt itself is never changed.
func (p *Policy) Decide(pkt []byte) Action {
	c := p.cfg
	var a Action
	if c.Loss > 0 && p.loss.next(p.rng) < c.Loss {
		return Action{Drop: true}
	}
	if c.DNS != nil {
		out, verdict := c.DNS.Rewrite(pkt)
		switch verdict {
		case DNSDrop:
			return Action{Drop: true}
		case DNSRewritten:
			a.Packet = out
		}
	}
	if c.Delay > 0 {
		a.After = c.Delay
		if c.Jitter > 0 {
			a.After += time.Duration((2*p.delay.next(p.rng) - 1) * float64(c.Jitter))
		}
	}
	if c.Reorder > 0 && p.reorder.next(p.rng) < c.Reorder {
		a.After += c.Hold
	}
	if c.Corrupt > 0 && p.corrupt.next(p.rng) < c.Corrupt {
		src := pkt
		if a.Packet != nil {
			src = a.Packet
		}
		if out, ok := Corrupt(src, p.rng.Uint64(), c.FixChecksum); ok {
			a.Packet = out
		}
	}
	if c.Duplicate > 0 && p.dup.next(p.rng) < c.Duplicate {
		a.Duplicate = true
	}
	return a
}
