package proxy

import (
	"errors"

	"github.com/faultline-dev/faultline/experiment"
)

// LatencyParams are the parameters of proxy.latency.
type LatencyParams struct {
	At        `yaml:",inline"`
	Direction string              `yaml:"direction" json:"direction" doc:"upstream (client to server), downstream (server to client) or both"`
	Toxicity  experiment.Percent  `yaml:"toxicity" json:"toxicity" doc:"share of connections affected"`
	Latency   experiment.Duration `yaml:"latency" json:"latency" required:"true" doc:"delay added to the data, in whole milliseconds"`
	Jitter    experiment.Duration `yaml:"jitter" json:"jitter,omitempty" doc:"random variation of the delay, plus or minus"`
}

func init() {
	registerToxic("proxy.latency", "Delay the data through a fault proxy (latency toxic)", false, func() LatencyParams {
		return LatencyParams{Direction: "downstream", Toxicity: 100}
	})
}

// Validate implements experiment.Validator.
func (p *LatencyParams) Validate() error {
	errs := append(p.At.validate(), validateDirection(p.Direction, p.Toxicity)...)
	if p.Latency <= 0 {
		errs = append(errs, experiment.FieldErrorf("latency", "want a delay of 1ms or more, such as 100ms"))
	}
	errs = append(errs, wholeMillis("latency", p.Latency), wholeMillis("jitter", p.Jitter))
	return errors.Join(errs...)
}

func (p *LatencyParams) toxic() toxic {
	return toxic{Type: "latency", Stream: p.Direction, Toxicity: float64(p.Toxicity) / 100, Attributes: map[string]int64{
		"latency": ms(p.Latency),
		"jitter":  ms(p.Jitter),
	}}
}
