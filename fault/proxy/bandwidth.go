package proxy

import (
	"errors"
	"math"

	"github.com/faultline-dev/faultline/experiment"
)

// BandwidthParams are the parameters of proxy.bandwidth.
type BandwidthParams struct {
	At        `yaml:",inline"`
	Direction string             `yaml:"direction" json:"direction" doc:"upstream (client to server), downstream (server to client) or both"`
	Toxicity  experiment.Percent `yaml:"toxicity" json:"toxicity" doc:"share of connections affected"`
	Rate      experiment.Size    `yaml:"rate" json:"rate" required:"true" doc:"bytes per second each affected connection may carry, such as 100KiB; the proxy counts whole kB/s (1000 bytes)"`
}

func init() {
	registerToxic("proxy.bandwidth", "Limit the throughput of each connection through a fault proxy (bandwidth toxic)", false, func() BandwidthParams {
		return BandwidthParams{Direction: "downstream", Toxicity: 100}
	})
}

// Validate implements experiment.Validator.
func (p *BandwidthParams) Validate() error {
	errs := append(p.At.validate(), validateDirection(p.Direction, p.Toxicity)...)
	if p.Rate < 1000 {
		errs = append(errs, experiment.FieldErrorf("rate", "%v per second: the proxy's smallest rate is 1kB (1000 bytes) per second", p.Rate))
	}
	return errors.Join(errs...)
}

func (p *BandwidthParams) toxic() toxic {
	return toxic{Type: "bandwidth", Stream: p.Direction, Toxicity: float64(p.Toxicity) / 100, Attributes: map[string]int64{
		"rate": int64(math.Round(float64(p.Rate) / 1000)),
	}}
}
