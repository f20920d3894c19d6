package proxy

import (
	"errors"

	"github.com/faultline-dev/faultline/experiment"
)

// ResetParams are the parameters of proxy.reset.
type ResetParams struct {
	At        `yaml:",inline"`
	Direction string              `yaml:"direction" json:"direction" doc:"the direction whose data triggers the reset: upstream (client to server), downstream (server to client) or both"`
	Toxicity  experiment.Percent  `yaml:"toxicity" json:"toxicity" doc:"share of connections affected"`
	Timeout   experiment.Duration `yaml:"timeout" json:"timeout,omitempty" doc:"how long after data arrives the connection is reset"`
}

func init() {
	registerToxic("proxy.reset", "Reset connections through a fault proxy (TCP RST, ECONNRESET) when data arrives (reset_peer toxic)", false, func() ResetParams {
		return ResetParams{Direction: "upstream", Toxicity: 100}
	})
}

// Validate implements experiment.Validator.
func (p *ResetParams) Validate() error {
	errs := append(p.At.validate(), validateDirection(p.Direction, p.Toxicity)...)
	errs = append(errs, wholeMillis("timeout", p.Timeout))
	return errors.Join(errs...)
}

func (p *ResetParams) toxic() toxic {
	return toxic{Type: "reset_peer", Stream: p.Direction, Toxicity: float64(p.Toxicity) / 100, Attributes: map[string]int64{
		"timeout": ms(p.Timeout),
	}}
}
