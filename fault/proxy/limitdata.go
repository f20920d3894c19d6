package proxy

import (
	"errors"

	"github.com/faultline-dev/faultline/experiment"
)

// LimitDataParams are the parameters of proxy.limitData.
type LimitDataParams struct {
	At        `yaml:",inline"`
	Direction string             `yaml:"direction" json:"direction" doc:"the direction counted: upstream (client to server), downstream (server to client) or both"`
	Toxicity  experiment.Percent `yaml:"toxicity" json:"toxicity" doc:"share of connections affected"`
	Bytes     experiment.Size    `yaml:"bytes" json:"bytes" required:"true" doc:"close each connection once this many bytes went through (counted from when the fault began); 0 closes it at its next data"`
}

func init() {
	registerToxic("proxy.limitData", "Close connections through a fault proxy after a number of bytes (limit_data toxic)", false, func() LimitDataParams {
		return LimitDataParams{Direction: "downstream", Toxicity: 100}
	})
}

// Validate implements experiment.Validator.
func (p *LimitDataParams) Validate() error {
	errs := append(p.At.validate(), validateDirection(p.Direction, p.Toxicity)...)
	if p.Bytes < 0 {
		errs = append(errs, experiment.FieldErrorf("bytes", "must not be negative"))
	}
	return errors.Join(errs...)
}

func (p *LimitDataParams) toxic() toxic {
	return toxic{Type: "limit_data", Stream: p.Direction, Toxicity: float64(p.Toxicity) / 100, Attributes: map[string]int64{
		"bytes": int64(p.Bytes),
	}}
}
