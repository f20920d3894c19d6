package proxy

import (
	"errors"
	"net/http"
)

// httpHeaders sets headers on matching requests (before they go to the
// upstream) and on their responses: replacing the header's values, or
// adding a value with append.
type httpHeaders struct {
	match
	Request  map[string]string `json:"request,omitempty"`
	Response map[string]string `json:"response,omitempty"`
	Append   bool              `json:"append,omitempty"`
}

func init() {
	toxicTypes.Add("http_headers", func() attributes { return &httpHeaders{match: allRequests()} })
}

func (h *httpHeaders) check() error {
	for _, m := range []map[string]string{h.Request, h.Response} {
		for k := range m {
			if k == "" {
				return errors.New("empty header name")
			}
		}
	}
	return h.match.check()
}

func (h *httpHeaders) apply(_ *exchanger, _ *toxic, ex *exchange) error {
	h.edit(ex.req.Header, h.Request)
	ex.responseEdits = append(ex.responseEdits, func(hd http.Header) { h.edit(hd, h.Response) })
	return nil
}

func (h *httpHeaders) edit(hd http.Header, set map[string]string) {
	for k, v := range set {
		if h.Append {
			hd.Add(k, v)
		} else {
			hd.Set(k, v)
		}
	}
}
