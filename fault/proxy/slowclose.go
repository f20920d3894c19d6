package proxy

import (
	"errors"

	"github.com/faultline-dev/faultline/experiment"
)

// SlowCloseParams are the parameters of proxy.slowClose.
type SlowCloseParams struct {
	At        `yaml:",inline"`
	Direction string              `yaml:"direction" json:"direction" doc:"the direction whose end is delayed: upstream (client to server), downstream (server to client) or both"`
	Toxicity  experiment.Percent  `yaml:"toxicity" json:"toxicity" doc:"share of connections affected"`
	Delay     experiment.Duration `yaml:"delay" json:"delay" required:"true" doc:"how long the end of the stream is held back"`
}

func init() {
	registerToxic("proxy.slowClose", "Delay the close of connections through a fault proxy (slow_close toxic)", false, func() SlowCloseParams {
		return SlowCloseParams{Direction: "downstream", Toxicity: 100}
	})
}

// Validate implements experiment.Validator.
func (p *SlowCloseParams) Validate() error {
	errs := append(p.At.validate(), validateDirection(p.Direction, p.Toxicity)...)
	if p.Delay <= 0 {
		errs = append(errs, experiment.FieldErrorf("delay", "want a delay of 1ms or more, such as 2s"))
	}
	errs = append(errs, wholeMillis("delay", p.Delay))
	return errors.Join(errs...)
}

func (p *SlowCloseParams) toxic() toxic {
	return toxic{Type: "slow_close", Stream: p.Direction, Toxicity: float64(p.Toxicity) / 100, Attributes: map[string]int64{
		"delay": ms(p.Delay),
	}}
}
