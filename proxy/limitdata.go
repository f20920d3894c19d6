package proxy

import "errors"

// limitData closes the connection once bytes bytes have passed in its
// direction since it began to act on it.
type limitData struct {
	Bytes int64 `json:"bytes"`
}

func init() { toxicTypes.Add("limit_data", func() attributes { return new(limitData) }) }

func (l *limitData) check() error {
	if l.Bytes < 0 {
		return errors.New("bytes must not be negative")
	}
	return nil
}

// newState counts the bytes passed.
func (l *limitData) newState() any { return new(int64) }

func (l *limitData) handle(p *pump, t *toxic, c chunk, next func(chunk) error) error {
	a, ok := p.current(t)
	if !ok {
		return next(c)
	}
	limit := a.(*limitData).Bytes
	sent := p.state(t).v.(*int64)
	if rest := limit - *sent; rest < int64(len(c.data)) {
		c.data = c.data[:max(rest, 0)]
	}
	if len(c.data) > 0 {
		if err := next(c); err != nil {
			return err
		}
		*sent += int64(len(c.data))
	}
	if *sent >= limit {
		p.l.close()
		return errClosed
	}
	return nil
}
