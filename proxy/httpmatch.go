package proxy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// httpToxic is a toxic acting on the HTTP exchanges of a proxy whose
// protocol is http.
type httpToxic interface {
	attributes
	matcher() *match
	// apply acts on a request the toxic matched and drew, waiting if it
	// must with x.wait.
	apply(x *exchanger, t *toxic, ex *exchange) error
}

// match selects the requests an HTTP toxic acts on, as Envoy's fault
// filter does: a percentage of those matching the method, the path (by
// prefix or regular expression, without the query) and headers.
type match struct {
	// Percentage is the share of matching requests affected, 0 to 100.
	Percentage float64 `json:"percentage"`
	Method     string  `json:"method,omitempty"`
	PathPrefix string  `json:"path_prefix,omitempty"`
	PathRegex  string  `json:"path_regex,omitempty"`
	// Headers must each be present; with a value other than "", one of the
	// header's values must equal it.
	Headers map[string]string `json:"headers,omitempty"`

	re *regexp.Regexp
}

func allRequests() match { return match{Percentage: 100} }

func (m *match) matcher() *match { return m }

// check validates the match and compiles its regular expression.
func (m *match) check() error {
	if m.Percentage < 0 || m.Percentage > 100 {
		return fmt.Errorf("percentage %v is outside 0..100", m.Percentage)
	}
	m.re = nil
	if m.PathRegex != "" {
		re, err := regexp.Compile(m.PathRegex)
		if err != nil {
			return fmt.Errorf("path_regex: %w", err)
		}
		m.re = re
	}
	for k := range m.Headers {
		if k == "" {
			return errors.New("headers: empty header name")
		}
	}
	return nil
}

func (m *match) matches(r *http.Request) bool {
	if m.Method != "" && !strings.EqualFold(m.Method, r.Method) {
		return false
	}
	if !strings.HasPrefix(r.URL.Path, m.PathPrefix) {
		return false
	}
	if m.re != nil && !m.re.MatchString(r.URL.Path) {
		return false
	}
	for k, v := range m.Headers {
		got := r.Header.Values(k)
		if len(got) == 0 || v != "" && !slices.Contains(got, v) {
			return false
		}
	}
	return true
}

// draw decides whether a matching request is affected.
func (m *match) draw() bool {
	return m.Percentage >= 100 || rand.Float64()*100 < m.Percentage
}
