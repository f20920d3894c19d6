package engine

import (
	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/probe"
)

// Catalog exposes the fault and probe registries to the document decoder,
// so experiment.Load types every step's parameters and every check.
func Catalog() experiment.Catalog { return catalog{} }

type catalog struct{}

func (catalog) Fault(kind string) (experiment.FaultInfo, bool) {
	k, ok := fault.Lookup(kind)
	if !ok {
		return experiment.FaultInfo{}, false
	}
	info := k.Info()
	targets := make([]string, len(info.Targets))
	for i, t := range info.Targets {
		targets[i] = string(t)
	}
	return experiment.FaultInfo{NewParams: k.NewParams, Targets: targets, Reversible: info.Reversible}, true
}

func (catalog) Probe(kind string) (experiment.ProbeInfo, bool) {
	k, ok := probe.Lookup(kind)
	if !ok {
		return experiment.ProbeInfo{}, false
	}
	return experiment.ProbeInfo{NewParams: k.NewParams, Measures: k.Info().Measures}, true
}

func (catalog) FaultKinds() []string { return fault.Names() }
func (catalog) ProbeKinds() []string { return probe.Names() }
