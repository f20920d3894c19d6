package proxy

import (
	"errors"
	"time"
)

// httpDelay holds matching requests for delay milliseconds before they go
// to the upstream.
type httpDelay struct {
	match
	Delay int64 `json:"delay"`
}

func init() {
	toxicTypes.Add("http_delay", func() attributes { return &httpDelay{match: allRequests()} })
}

func (h *httpDelay) check() error {
	if h.Delay < 0 {
		return errors.New("delay must not be negative")
	}
	return h.match.check()
}

func (h *httpDelay) apply(x *exchanger, t *toxic, _ *exchange) error {
	_, err := x.sleep(t, time.Now().Add(time.Duration(h.Delay)*time.Millisecond))
	return err
}
