package proxy

import (
	"errors"
	"time"

	"github.com/faultline-dev/faultline/experiment"
)

// SlicerParams are the parameters of proxy.slicer.
type SlicerParams struct {
	At            `yaml:",inline"`
	Direction     string              `yaml:"direction" json:"direction" doc:"upstream (client to server), downstream (server to client) or both"`
	Toxicity      experiment.Percent  `yaml:"toxicity" json:"toxicity" doc:"share of connections affected"`
	AverageSize   experiment.Size     `yaml:"averageSize" json:"averageSize" doc:"average length of the slices the data is cut into"`
	SizeVariation experiment.Size     `yaml:"sizeVariation" json:"sizeVariation,omitempty" doc:"random variation of the slices' length, plus or minus; less than averageSize"`
	Delay         experiment.Duration `yaml:"delay" json:"delay" doc:"pause between slices, in whole microseconds"`
}

func init() {
	registerToxic("proxy.slicer", "Cut the data through a fault proxy into small slices sent apart (slicer toxic)", false, func() SlicerParams {
		return SlicerParams{Direction: "downstream", Toxicity: 100, AverageSize: 64, Delay: experiment.Duration(time.Millisecond)}
	})
}

// Validate implements experiment.Validator.
func (p *SlicerParams) Validate() error {
	errs := append(p.At.validate(), validateDirection(p.Direction, p.Toxicity)...)
	if p.AverageSize < 1 {
		errs = append(errs, experiment.FieldErrorf("averageSize", "want 1 byte or more"))
	}
	if p.SizeVariation < 0 || p.SizeVariation >= p.AverageSize {
		errs = append(errs, experiment.FieldErrorf("sizeVariation", "want at least 0 and less than averageSize (%v)", p.AverageSize))
	}
	if p.Delay.D()%time.Microsecond != 0 {
		errs = append(errs, experiment.FieldErrorf("delay", "%s: the proxy counts the slicer's delay in whole microseconds", p.Delay))
	}
	return errors.Join(errs...)
}

func (p *SlicerParams) toxic() toxic {
	return toxic{Type: "slicer", Stream: p.Direction, Toxicity: float64(p.Toxicity) / 100, Attributes: map[string]int64{
		"average_size":   int64(p.AverageSize),
		"size_variation": int64(p.SizeVariation),
		"delay":          int64(p.Delay.D() / time.Microsecond),
	}}
}
