package proxy

import "fmt"

// httpAbort answers matching requests itself with status and body; they
// never reach the upstream.
type httpAbort struct {
	match
	Status int    `json:"status"`
	Body   string `json:"body"`
}

func init() {
	toxicTypes.Add("http_abort", func() attributes {
		return &httpAbort{match: allRequests(), Status: 503, Body: "fault injected by faultline\n"}
	})
}

func (h *httpAbort) check() error {
	if h.Status < 200 || h.Status > 599 {
		return fmt.Errorf("status %d: want a final HTTP status, 200 to 599", h.Status)
	}
	return h.match.check()
}

func (h *httpAbort) apply(_ *exchanger, _ *toxic, ex *exchange) error {
	ex.abort = h
	return nil
}
