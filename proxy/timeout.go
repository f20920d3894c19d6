package proxy

import (
	"errors"
	"time"
)

// timeout stops a direction: data is held (not passed on, and the sender is
// held back by TCP flow control once the queue is full), and the connection
// is closed timeout milliseconds after the toxic began to act on it, or
// never when timeout is 0. Removing the toxic releases the data held.
// (Toxiproxy drops the data instead, and closes the connection when the
// toxic is removed.)
type timeout struct {
	Timeout int64 `json:"timeout"`
}

func init() { toxicTypes.Add("timeout", func() attributes { return new(timeout) }) }

func (to *timeout) check() error {
	if to.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return nil
}

func (to *timeout) idleDeadline(st *toxicState) time.Time {
	if to.Timeout == 0 || st == nil {
		return time.Time{}
	}
	return st.since.Add(time.Duration(to.Timeout) * time.Millisecond)
}

func (to *timeout) handle(p *pump, t *toxic, c chunk, next func(chunk) error) error {
	for {
		a, ok := p.current(t)
		if !ok {
			return next(c)
		}
		changed, err := p.wait(a.(*timeout).idleDeadline(p.state(t)))
		if err != nil {
			return err
		}
		if !changed {
			p.l.close()
			return errClosed
		}
	}
}
