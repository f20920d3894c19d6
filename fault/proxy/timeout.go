package proxy

import (
	"errors"

	"github.com/faultline-dev/faultline/experiment"
)

// TimeoutParams are the parameters of proxy.timeout.
type TimeoutParams struct {
	At        `yaml:",inline"`
	Direction string              `yaml:"direction" json:"direction" doc:"upstream (client to server), downstream (server to client) or both"`
	Toxicity  experiment.Percent  `yaml:"toxicity" json:"toxicity" doc:"share of connections affected"`
	Timeout   experiment.Duration `yaml:"timeout" json:"timeout" doc:"close the connection this long after the fault began; 0 holds it open, data stopped, until recovery"`
}

func init() {
	registerToxic("proxy.timeout", "Stop the data through a fault proxy (a black hole), closing the connections after timeout (timeout toxic)", false, func() TimeoutParams {
		return TimeoutParams{Direction: "both", Toxicity: 100}
	})
}

// Validate implements experiment.Validator.
func (p *TimeoutParams) Validate() error {
	errs := append(p.At.validate(), validateDirection(p.Direction, p.Toxicity)...)
	errs = append(errs, wholeMillis("timeout", p.Timeout))
	return errors.Join(errs...)
}

func (p *TimeoutParams) toxic() toxic {
	return toxic{Type: "timeout", Stream: p.Direction, Toxicity: float64(p.Toxicity) / 100, Attributes: map[string]int64{
		"timeout": ms(p.Timeout),
	}}
}
