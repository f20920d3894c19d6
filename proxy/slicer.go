package proxy

import (
	"errors"
	"math/rand/v2"
	"time"
)

// slicer passes data on in slices of average_size ± size_variation bytes,
// delay microseconds apart.
type slicer struct {
	AverageSize   int `json:"average_size"`
	SizeVariation int `json:"size_variation"`
	Delay         int `json:"delay"`
}

func init() { toxicTypes.Add("slicer", func() attributes { return new(slicer) }) }

func (s *slicer) check() error {
	if s.AverageSize < 0 || s.SizeVariation < 0 || s.Delay < 0 {
		return errors.New("average_size, size_variation and delay must not be negative")
	}
	if s.AverageSize > 0 && s.SizeVariation >= s.AverageSize {
		return errors.New("size_variation must be less than average_size")
	}
	return nil
}

// size draws the length of the next slice.
func (s *slicer) size() int {
	n := s.AverageSize
	if s.SizeVariation > 0 {
		n += rand.IntN(2*s.SizeVariation+1) - s.SizeVariation
	}
	return max(n, 1)
}

func (s *slicer) handle(p *pump, t *toxic, c chunk, next func(chunk) error) error {
	for len(c.data) > 0 {
		a, ok := p.current(t)
		if !ok || a.(*slicer).AverageSize == 0 {
			return next(c)
		}
		sl := a.(*slicer)
		n := min(sl.size(), len(c.data))
		if err := next(chunk{data: c.data[:n], at: c.at}); err != nil {
			return err
		}
		c.data = c.data[n:]
		if len(c.data) == 0 {
			return nil
		}
		present, err := p.sleep(t, time.Now().Add(time.Duration(sl.Delay)*time.Microsecond))
		if err != nil {
			return err
		}
		if !present {
			return next(c)
		}
	}
	return nil
}
