package proxy

import (
	"errors"
	"time"
)

// resetPeer resets the connection (a TCP RST to both peers) timeout
// milliseconds after data arrives in its direction; the data is not passed
// on.
type resetPeer struct {
	Timeout int64 `json:"timeout"`
}

func init() { toxicTypes.Add("reset_peer", func() attributes { return new(resetPeer) }) }

func (r *resetPeer) check() error {
	if r.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return nil
}

func (r *resetPeer) handle(p *pump, t *toxic, c chunk, next func(chunk) error) error {
	for {
		a, ok := p.current(t)
		if !ok {
			return next(c)
		}
		changed, err := p.wait(c.at.Add(time.Duration(a.(*resetPeer).Timeout) * time.Millisecond))
		if err != nil {
			return err
		}
		if !changed {
			p.l.reset()
			return errClosed
		}
	}
}
