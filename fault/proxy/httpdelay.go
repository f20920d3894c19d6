package proxy

import (
	"errors"

	"github.com/faultline-dev/faultline/experiment"
)

// HTTPDelayParams are the parameters of proxy.httpDelay.
type HTTPDelayParams struct {
	At         `yaml:",inline"`
	Delay      experiment.Duration `yaml:"delay" json:"delay" required:"true" doc:"how long each affected request is held before it goes to the upstream, in whole milliseconds"`
	Percentage experiment.Percent  `yaml:"percentage" json:"percentage" doc:"share of the matching requests delayed"`
	Match      Match               `yaml:"match" json:"match,omitzero" doc:"which requests: method, pathPrefix, pathRegex, headers"`
}

func init() {
	registerToxic("proxy.httpDelay", "Delay HTTP requests through a fault proxy (http_delay toxic)", true, func() HTTPDelayParams {
		return HTTPDelayParams{Percentage: 100}
	})
}

// Validate implements experiment.Validator.
func (p *HTTPDelayParams) Validate() error {
	errs := append(p.At.validate(), validatePercentage(p.Percentage), p.Match.validate())
	if p.Delay <= 0 {
		errs = append(errs, experiment.FieldErrorf("delay", "want a delay of 1ms or more, such as 500ms"))
	}
	errs = append(errs, wholeMillis("delay", p.Delay))
	return errors.Join(errs...)
}

// BindSpec implements experiment.SpecBinder: a proxy of spec.proxies
// must speak http.
func (p *HTTPDelayParams) BindSpec(spec *experiment.Spec) error { return p.bind(spec, true) }

func (p *HTTPDelayParams) toxic() toxic {
	return toxic{Type: "http_delay", Toxicity: 1, Attributes: p.Match.attributes(map[string]any{
		"delay": ms(p.Delay),
	}, p.Percentage)}
}
