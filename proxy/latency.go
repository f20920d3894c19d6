package proxy

import (
	"errors"
	"math/rand/v2"
	"time"
)

// latency delays each chunk by latency ± jitter milliseconds from when it
// was read.
type latency struct {
	Latency int64 `json:"latency"`
	Jitter  int64 `json:"jitter"`
}

func init() { toxicTypes.Add("latency", func() attributes { return new(latency) }) }

func (l *latency) check() error {
	if l.Latency < 0 || l.Jitter < 0 {
		return errors.New("latency and jitter must not be negative")
	}
	return nil
}

func (l *latency) delay() time.Duration {
	d := l.Latency
	if l.Jitter > 0 {
		d += rand.Int64N(2*l.Jitter+1) - l.Jitter
	}
	return time.Duration(max(d, 0)) * time.Millisecond
}

func (l *latency) handle(p *pump, t *toxic, c chunk, next func(chunk) error) error {
	for {
		a, ok := p.current(t)
		if !ok {
			return next(c) // removed: pass the data on at once
		}
		until := c.at.Add(a.(*latency).delay())
		changed, err := p.wait(until)
		if err != nil {
			return err
		}
		if !changed {
			c.at = until
			return next(c)
		}
	}
}
