package proxy

import (
	"errors"
	"maps"

	"github.com/faultline-dev/faultline/experiment"
)

// HTTPHeadersParams are the parameters of proxy.httpHeaders.
type HTTPHeadersParams struct {
	At         `yaml:",inline"`
	Request    map[string]string  `yaml:"request" json:"request,omitempty" doc:"headers set on the requests before they go to the upstream"`
	Response   map[string]string  `yaml:"response" json:"response,omitempty" doc:"headers set on their responses"`
	Append     bool               `yaml:"append" json:"append,omitempty" doc:"add the values to those there are rather than replace them"`
	Percentage experiment.Percent `yaml:"percentage" json:"percentage" doc:"share of the matching requests changed"`
	Match      Match              `yaml:"match" json:"match,omitzero" doc:"which requests: method, pathPrefix, pathRegex, headers"`
}

func init() {
	registerToxic("proxy.httpHeaders", "Add or replace headers of HTTP requests and responses through a fault proxy (http_headers toxic)", true, func() HTTPHeadersParams {
		return HTTPHeadersParams{Percentage: 100}
	})
}

// Validate implements experiment.Validator.
func (p *HTTPHeadersParams) Validate() error {
	errs := append(p.At.validate(), validatePercentage(p.Percentage), p.Match.validate())
	if len(p.Request) == 0 && len(p.Response) == 0 {
		errs = append(errs, experiment.FieldErrorf("request", "give request or response headers to set"))
	}
	if _, ok := p.Request[""]; ok {
		errs = append(errs, experiment.FieldErrorf("request", "a header has an empty name"))
	}
	if _, ok := p.Response[""]; ok {
		errs = append(errs, experiment.FieldErrorf("response", "a header has an empty name"))
	}
	return errors.Join(errs...)
}

// BindSpec implements experiment.SpecBinder: a proxy of spec.proxies
// must speak http.
func (p *HTTPHeadersParams) BindSpec(spec *experiment.Spec) error { return p.bind(spec, true) }

func (p *HTTPHeadersParams) toxic() toxic {
	return toxic{Type: "http_headers", Toxicity: 1, Attributes: p.Match.attributes(map[string]any{
		"request": maps.Clone(p.Request), "response": maps.Clone(p.Response), "append": p.Append,
	}, p.Percentage)}
}
