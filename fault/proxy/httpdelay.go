package proxy

import (
	"errors"

	"github.com/faultline-dev/faultline/experiment"
)

// HTTPDelayParams are the parameters of proxy.httpDelay.
type HTTPDelayParams struct {
	API        string              `yaml:"api" json:"api" doc:"URL of the proxy API"`
	Proxy      string              `yaml:"proxy" json:"proxy" required:"true" doc:"name of the proxy (with protocol http), as the proxy API knows it"`
	Delay      experiment.Duration `yaml:"delay" json:"delay" required:"true" doc:"how long each affected request is held before it goes to the upstream, in whole milliseconds"`
	Percentage experiment.Percent  `yaml:"percentage" json:"percentage" doc:"share of the matching requests delayed"`
	Match      Match               `yaml:"match" json:"match,omitzero" doc:"which requests: method, pathPrefix, pathRegex, headers"`
}

func init() {
	registerToxic("proxy.httpDelay", "Delay HTTP requests through a fault proxy (http_delay toxic)", true, func() HTTPDelayParams {
		return HTTPDelayParams{API: DefaultAPI, Percentage: 100}
	})
}

// Validate implements experiment.Validator.
func (p *HTTPDelayParams) Validate() error {
	errs := append(validateTarget(p.API, p.Proxy), validatePercentage(p.Percentage), p.Match.validate())
	if p.Delay <= 0 {
		errs = append(errs, experiment.FieldErrorf("delay", "want a delay of 1ms or more, such as 500ms"))
	}
	errs = append(errs, wholeMillis("delay", p.Delay))
	return errors.Join(errs...)
}

func (p *HTTPDelayParams) where() (string, string) { return p.API, p.Proxy }

func (p *HTTPDelayParams) toxic() toxic {
	return toxic{Type: "http_delay", Toxicity: 1, Attributes: p.Match.attributes(map[string]any{
		"delay": ms(p.Delay),
	}, p.Percentage)}
}
