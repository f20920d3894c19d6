package proxy

import (
	"maps"

	"github.com/faultline-dev/faultline/experiment"
)

// Match selects the requests an HTTP fault acts on, as Istio's and Envoy's
// fault injection do; every field given must match.
type Match struct {
	Method     string            `yaml:"method" json:"method,omitempty" doc:"HTTP method, such as GET"`
	PathPrefix string            `yaml:"pathPrefix" json:"pathPrefix,omitempty" doc:"start of the path (without the query)"`
	PathRegex  experiment.Regexp `yaml:"pathRegex" json:"pathRegex,omitzero" doc:"regular expression the path (without the query) matches"`
	Headers    map[string]string `yaml:"headers" json:"headers,omitempty" doc:"headers the request has, with this value (\"\" for any value)"`
}

// attributes adds the match to a toxic's attributes, with the share of
// matching requests affected.
func (m Match) attributes(attrs map[string]any, percentage experiment.Percent) map[string]any {
	attrs["percentage"] = float64(percentage)
	if m.Method != "" {
		attrs["method"] = m.Method
	}
	if m.PathPrefix != "" {
		attrs["path_prefix"] = m.PathPrefix
	}
	if m.PathRegex.Regexp != nil {
		attrs["path_regex"] = m.PathRegex.String()
	}
	if len(m.Headers) > 0 {
		attrs["headers"] = maps.Clone(m.Headers)
	}
	return attrs
}

func (m Match) validate() error {
	if _, ok := m.Headers[""]; ok {
		return experiment.FieldErrorf("match.headers", "a header has an empty name")
	}
	return nil
}

// validatePercentage checks the share of requests an HTTP fault affects.
func validatePercentage(p experiment.Percent) error {
	if p <= 0 {
		return experiment.FieldErrorf("percentage", "0%% affects no request: want more than 0%%, up to 100%%")
	}
	return nil
}
