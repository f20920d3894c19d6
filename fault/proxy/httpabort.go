package proxy

import (
	"errors"

	"github.com/faultline-dev/faultline/experiment"
)

// HTTPAbortParams are the parameters of proxy.httpAbort.
type HTTPAbortParams struct {
	At         `yaml:",inline"`
	Status     int                `yaml:"status" json:"status" doc:"HTTP status of the answer"`
	Body       string             `yaml:"body" json:"body,omitempty" doc:"body of the answer"`
	Percentage experiment.Percent `yaml:"percentage" json:"percentage" doc:"share of the matching requests answered"`
	Match      Match              `yaml:"match" json:"match,omitzero" doc:"which requests: method, pathPrefix, pathRegex, headers"`
}

func init() {
	registerToxic("proxy.httpAbort", "Answer HTTP requests through a fault proxy with an error status instead of the upstream (http_abort toxic)", true, func() HTTPAbortParams {
		return HTTPAbortParams{Status: 503, Percentage: 100}
	})
}

// Validate implements experiment.Validator.
func (p *HTTPAbortParams) Validate() error {
	errs := append(p.At.validate(), validatePercentage(p.Percentage), p.Match.validate())
	if p.Status < 200 || p.Status > 599 {
		errs = append(errs, experiment.FieldErrorf("status", "%d: want a final HTTP status, 200 to 599, such as 503", p.Status))
	}
	return errors.Join(errs...)
}

// BindSpec implements experiment.SpecBinder: a proxy of spec.proxies
// must speak http.
func (p *HTTPAbortParams) BindSpec(spec *experiment.Spec) error { return p.bind(spec, true) }

func (p *HTTPAbortParams) toxic() toxic {
	return toxic{Type: "http_abort", Toxicity: 1, Attributes: p.Match.attributes(map[string]any{
		"status": p.Status, "body": p.Body,
	}, p.Percentage)}
}
