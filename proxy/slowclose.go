package proxy

import (
	"errors"
	"time"
)

// slowClose delays the end of a direction's stream by delay milliseconds.
type slowClose struct {
	Delay int64 `json:"delay"`
}

func init() { toxicTypes.Add("slow_close", func() attributes { return new(slowClose) }) }

func (s *slowClose) check() error {
	if s.Delay < 0 {
		return errors.New("delay must not be negative")
	}
	return nil
}

func (s *slowClose) handle(_ *pump, _ *toxic, c chunk, next func(chunk) error) error { return next(c) }

func (s *slowClose) eof(p *pump, t *toxic) error {
	_, err := p.sleep(t, time.Now().Add(time.Duration(s.Delay)*time.Millisecond))
	return err
}
