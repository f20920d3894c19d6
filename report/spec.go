package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// document is the part of the experiment as run (journal.Experiment) that a
// report shows. It is read loosely, field by field, so a journal written
// by another version of faultline still renders; the target is kept raw
// because selectors differ by target kind.
type document struct {
	Metadata struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		Hypothesis *struct {
			Every         string     `json:"every"`
			RecoverWithin string     `json:"recoverWithin"`
			StableSamples int        `json:"stableSamples"`
			Checks        []checkDoc `json:"checks"`
		} `json:"hypothesis"`
		Method   []stepDoc  `json:"method"`
		StopWhen []checkDoc `json:"stopWhen"`
		Proxies  []struct {
			Name     string `json:"name"`
			Listen   string `json:"listen"`
			Upstream string `json:"upstream"`
			Protocol string `json:"protocol"`
		} `json:"proxies"`
	} `json:"spec"`
}

type checkDoc struct {
	Name   string          `json:"name"`
	Probe  string          `json:"probe"`
	Params json.RawMessage `json:"params"`
	Expect []struct {
		Measure   string `json:"measure"`
		Tolerance any    `json:"tolerance"`
	} `json:"expect"`
	For string `json:"for"`
}

type stepDoc struct {
	Name     string                     `json:"name"`
	Fault    string                     `json:"fault"`
	Target   map[string]json.RawMessage `json:"target"`
	Params   json.RawMessage            `json:"params"`
	Duration string                     `json:"duration"`
	Probe    *checkDoc                  `json:"probe"`
	Wait     string                     `json:"wait"`
	Parallel []stepDoc                  `json:"parallel"`
}

// spec is the experiment as the report shows it.
type spec struct {
	Name          string
	Description   string
	Every         string
	RecoverWithin string
	Checks        []checkLine
	Steps         []stepRow
	StopWhen      []checkLine
	// Proxies are the experiment's own fault proxies, as "name (protocol):
	// listen → upstream".
	Proxies []string
	// Error says why the experiment could not be read, if it could not.
	Error string
}

// checkLine is a check written as "name: probe — measure tolerance, …".
type checkLine struct {
	Name   string
	Probe  string
	Params string
	Expect []tolerance
	For    string
}

type tolerance struct {
	Measure   string
	Tolerance string
}

// stepRow is one step of the method; steps of a parallel group follow
// their group, their names marked with ↳.
type stepRow struct {
	Number   string
	Name     string
	Action   string
	Params   string // a fault's parameters as JSON, "" for none
	Target   string
	Mode     string
	Duration string
}

// readSpec decodes the experiment as run. A journal without one gives an
// empty spec; one that cannot be read gives a spec that says why.
func readSpec(raw json.RawMessage) spec {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return spec{}
	}
	var d document
	if err := json.Unmarshal(raw, &d); err != nil {
		return spec{Error: fmt.Sprintf("the experiment in the journal cannot be read: %v", err)}
	}
	s := spec{
		Name:        d.Metadata.Name,
		Description: d.Metadata.Annotations["description"],
		StopWhen:    checkLines(d.Spec.StopWhen),
		Steps:       stepRows(d.Spec.Method, ""),
	}
	for _, p := range d.Spec.Proxies {
		s.Proxies = append(s.Proxies, fmt.Sprintf("%s (%s): %s → %s", p.Name, p.Protocol, p.Listen, p.Upstream))
	}
	if h := d.Spec.Hypothesis; h != nil {
		s.Every, s.RecoverWithin = h.Every, h.RecoverWithin
		s.Checks = checkLines(h.Checks)
	}
	return s
}

func checkLines(docs []checkDoc) []checkLine {
	lines := make([]checkLine, len(docs))
	for i, c := range docs {
		lines[i] = checkLine{Name: c.Name, Probe: c.Probe, Params: compact(c.Params), For: c.For}
		for _, e := range c.Expect {
			lines[i].Expect = append(lines[i].Expect, tolerance{Measure: e.Measure, Tolerance: scalar(e.Tolerance)})
		}
	}
	return lines
}

// compact writes raw JSON on one line, keys in the order written; "" for
// nothing or an empty object.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return ""
	}
	if s := b.String(); s != "{}" && s != "null" {
		return s
	}
	return ""
}

func stepRows(steps []stepDoc, prefix string) []stepRow {
	var rows []stepRow
	for i, s := range steps {
		number := fmt.Sprintf("%s%d", prefix, i+1)
		rows = append(rows, stepRow{
			Number:   number,
			Name:     s.Name,
			Action:   action(s),
			Params:   faultParams(s),
			Target:   selectors(s.Target),
			Mode:     mode(s.Target),
			Duration: duration(s),
		})
		rows = append(rows, stepRows(s.Parallel, number+".")...)
	}
	return rows
}

func action(s stepDoc) string {
	switch {
	case s.Fault != "":
		return s.Fault
	case s.Probe != nil:
		return "probe " + s.Probe.Name + " (" + s.Probe.Probe + ")"
	case len(s.Parallel) > 0:
		return fmt.Sprintf("parallel: %d steps", len(s.Parallel))
	case s.Wait != "":
		return "wait"
	}
	return ""
}

// faultParams writes a fault step's parameters; probe steps show theirs
// in their check.
func faultParams(s stepDoc) string {
	if s.Fault == "" {
		return ""
	}
	return compact(s.Params)
}

func duration(s stepDoc) string {
	switch {
	case s.Wait != "":
		return s.Wait
	case s.Fault == "":
		return ""
	case s.Duration == "" || s.Duration == "0s":
		return "until the method ends"
	}
	return s.Duration
}

// targetOptions are the keys of a target that are not selectors.
var targetOptions = map[string]bool{"mode": true, "maxTargets": true, "seed": true}

// selectors writes a target's selectors as "process cmdline=\"x\"".
func selectors(target map[string]json.RawMessage) string {
	var kinds []string
	for k := range target {
		if !targetOptions[k] {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = k + " " + selector(target[k])
	}
	return strings.Join(parts, "; ")
}

func selector(raw json.RawMessage) string {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return compact(raw)
	}
	return fields(m)
}

// mode writes how many of the matches a target picks: "one",
// "percent:30 (at most 3, seed 7)".
func mode(target map[string]json.RawMessage) string {
	if target == nil {
		return ""
	}
	var m string
	if err := json.Unmarshal(target["mode"], &m); err != nil || m == "" {
		m = "one"
	}
	var extra []string
	if raw, ok := target["maxTargets"]; ok {
		extra = append(extra, "at most "+compact(raw))
	}
	if raw, ok := target["seed"]; ok {
		extra = append(extra, "seed "+compact(raw))
	}
	if len(extra) > 0 {
		m += " (" + strings.Join(extra, ", ") + ")"
	}
	return m
}
