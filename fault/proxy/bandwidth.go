package proxy

import (
	"errors"
	"math"

	"github.com/faultline-dev/faultline/experiment"
)

// BandwidthParams are the parameters of proxy.bandwidth.
type BandwidthParams struct {
	API       string             `yaml:"api" json:"api" doc:"URL of the proxy API"`
	Proxy     string             `yaml:"proxy" json:"proxy" required:"true" doc:"name of the proxy, as the proxy API knows it"`
	Direction string             `yaml:"direction" json:"direction" doc:"upstream (client to server), downstream (server to client) or both"`
	Toxicity  experiment.Percent `yaml:"toxicity" json:"toxicity" doc:"share of connections affected"`
	Rate      experiment.Size    `yaml:"rate" json:"rate" required:"true" doc:"bytes per second each affected connection may carry, such as 100KiB; the proxy counts whole kB/s (1000 bytes)"`
}

func init() {
	registerToxic("proxy.bandwidth", "Limit the throughput of each connection through a fault proxy (bandwidth toxic)", false, func() BandwidthParams {
		return BandwidthParams{API: DefaultAPI, Direction: "downstream", Toxicity: 100}
	})
}

// Validate implements experiment.Validator.
func (p *BandwidthParams) Validate() error {
	errs := append(validateTarget(p.API, p.Proxy), validateDirection(p.Direction, p.Toxicity)...)
	if p.Rate < 1000 {
		errs = append(errs, experiment.FieldErrorf("rate", "%v per second: the proxy's smallest rate is 1kB (1000 bytes) per second", p.Rate))
	}
	return errors.Join(errs...)
}

func (p *BandwidthParams) where() (string, string) { return p.API, p.Proxy }

func (p *BandwidthParams) toxic() toxic {
	return toxic{Type: "bandwidth", Stream: p.Direction, Toxicity: float64(p.Toxicity) / 100, Attributes: map[string]int64{
		"rate": int64(math.Round(float64(p.Rate) / 1000)),
	}}
}
