package proxy

import (
	"errors"
	"time"

	"golang.org/x/time/rate"
)

// bandwidth limits a direction of each connection to rate KB/s (1000
// bytes) with a token bucket: data goes in writes of 10ms worth, and the
// bucket holds 100ms worth, so a wake-up late by less than that (a busy
// machine) is made up and the average rate holds.
type bandwidth struct {
	Rate int64 `json:"rate"`
}

func init() { toxicTypes.Add("bandwidth", func() attributes { return new(bandwidth) }) }

func (b *bandwidth) check() error {
	if b.Rate < 0 {
		return errors.New("rate must not be negative")
	}
	return nil
}

func (b *bandwidth) newState() any { return rate.NewLimiter(rate.Inf, 1) }

// piece is the longest write for a rate in bytes per second: 10ms worth,
// at least one byte.
func piece(bps float64) int { return max(int(bps/100), 1) }

func (b *bandwidth) handle(p *pump, t *toxic, c chunk, next func(chunk) error) error {
	lim := p.state(t).v.(*rate.Limiter)
	for len(c.data) > 0 {
		a, ok := p.current(t)
		if !ok || a.(*bandwidth).Rate == 0 {
			return next(c) // removed, or 0: no limit, as in Toxiproxy
		}
		bps := float64(a.(*bandwidth).Rate) * 1000
		now := time.Now()
		if lim.Limit() != rate.Limit(bps) {
			lim.SetLimitAt(now, rate.Limit(bps))
			lim.SetBurstAt(now, 10*piece(bps))
		}
		n := min(len(c.data), piece(bps))
		r := lim.ReserveN(now, n)
		changed, err := p.wait(now.Add(r.DelayFrom(now)))
		if err != nil {
			return err
		}
		if changed {
			r.Cancel()
			continue
		}
		if err := next(chunk{data: c.data[:n], at: c.at}); err != nil {
			return err
		}
		c.data = c.data[n:]
	}
	return nil
}
