package experiment

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/expect"
)

// keyed iterates a mapping node's pairs, reporting duplicates.
func keyed(d *Decoder, n *yaml.Node, path string, fn func(k, v *yaml.Node, fp string)) bool {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "want a mapping, got %s", kindName(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fp := join(path, k.Value)
		if seen[k.Value] {
			d.Errorf(k, fp, "duplicate key")
			continue
		}
		seen[k.Value] = true
		fn(k, v, fp)
	}
	return true
}

var stepFields = []string{"name", "fault", "target", "params", "duration", "probe", "wait", "parallel"}

// DecodeNode implements NodeDecoder: a step is exactly one of fault, probe,
// wait or parallel, and a fault's parameters are typed by its kind.
func (s *Step) DecodeNode(d *Decoder, n *yaml.Node, path string) {
	s.Pos = posOf(d, n, path)
	var faultNode, paramsNode, targetNode, durationNode *yaml.Node
	var set []string
	ok := keyed(d, n, path, func(k, v *yaml.Node, fp string) {
		switch k.Value {
		case "name":
			d.decode(v, fp, reflectOf(&s.Name))
		case "fault":
			faultNode = v
			d.decode(v, fp, reflectOf(&s.Fault))
			set = append(set, "fault")
		case "target":
			targetNode = k
			s.Target = &Target{}
			d.decode(v, fp, reflectOf(s.Target))
		case "params":
			paramsNode = v
		case "duration":
			durationNode = k
			d.decode(v, fp, reflectOf(&s.Duration))
		case "probe":
			s.Probe = &Check{}
			d.decode(v, fp, reflectOf(s.Probe))
			set = append(set, "probe")
		case "wait":
			d.decode(v, fp, reflectOf(&s.Wait))
			set = append(set, "wait")
		case "parallel":
			d.decode(v, fp, reflectOf(&s.Parallel))
			set = append(set, "parallel")
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				d.Errorf(v, fp, "a parallel group needs at least one step")
			}
		default:
			d.Errorf(k, fp, "unknown field%s", suggest(k.Value, stepFields))
		}
	})
	if !ok {
		return
	}
	switch len(set) {
	case 0:
		d.Errorf(n, path, "a step needs one of fault, probe, wait or parallel")
		return
	case 1:
	default:
		d.Errorf(n, path, "a step does one thing; this one has %s: split it into several steps", strings.Join(set, " and "))
		return
	}
	if set[0] != "fault" {
		for _, f := range []struct {
			node *yaml.Node
			name string
		}{{targetNode, "target"}, {paramsNode, "params"}, {durationNode, "duration"}} {
			if f.node != nil {
				d.Errorf(f.node, join(path, f.name), "only fault steps take %s", f.name)
			}
		}
	}
	if s.Name == "" {
		s.Name = defaultStepName(s)
	}
	if set[0] == "fault" {
		s.decodeFault(d, faultNode, paramsNode, targetNode, durationNode, path)
	}
}

func defaultStepName(s *Step) string {
	switch s.Kind() {
	case FaultStep:
		return s.Fault
	case ProbeStep:
		return "probe " + s.Probe.Name
	case WaitStep:
		return "wait " + s.Wait.String()
	}
	return "parallel"
}

func (s *Step) decodeFault(d *Decoder, faultNode, paramsNode, targetKey, durationKey *yaml.Node, path string) {
	raw, err := NodeToJSON(paramsNode)
	if err != nil {
		d.Errorf(paramsNode, join(path, "params"), "%v", err)
	}
	s.RawParams = raw
	if d.Catalog == nil || s.Fault == "" {
		return
	}
	info, ok := d.Catalog.Fault(s.Fault)
	if !ok {
		d.Errorf(faultNode, join(path, "fault"), "unknown fault kind %q%s", s.Fault, suggest(s.Fault, d.Catalog.FaultKinds()))
		return
	}
	params := info.NewParams()
	pp := join(path, "params")
	before := len(d.errs)
	if paramsNode != nil {
		d.decode(paramsNode, pp, reflectOf(params))
	}
	if len(d.errs) == before {
		if v, ok := params.(Validator); ok {
			reportFieldErrors(d, v.Validate(), paramsNode, n0(paramsNode, faultNode), pp, pp)
		}
		if v, ok := params.(DurationValidator); ok {
			reportFieldErrors(d, v.ValidateDuration(s.Duration.D()), paramsNode, n0(durationKey, faultNode), pp, join(path, "duration"))
		} else if !info.Reversible && s.Duration != 0 {
			d.Errorf(durationKey, join(path, "duration"), "%s cannot be undone, so it takes no duration", s.Fault)
		}
	}
	s.Params = params
	s.paramsNode, s.faultNode, s.paramsValid = paramsNode, faultNode, len(d.errs) == before
	switch {
	case len(info.Targets) == 0 && s.Target != nil:
		d.Errorf(targetKey, join(path, "target"), "%s acts on this host and takes no target", s.Fault)
	case len(info.Targets) > 0 && s.Target == nil:
		d.Errorf(faultNode, join(path, "target"), "%s needs a target: %s", s.Fault, strings.Join(info.Targets, " or "))
	case s.Target != nil && s.Target.Selector() != "" && !slices.Contains(info.Targets, s.Target.Selector()):
		sel := s.Target.Selector()
		d.Errorf(targetKey, join(path, "target."+sel), "%s cannot act on %s targets (it takes %s)", s.Fault, sel, strings.Join(info.Targets, " or "))
	}
}

func n0(a, b *yaml.Node) *yaml.Node {
	if a != nil {
		return a
	}
	return b
}

// reportFieldErrors places each FieldError at its key inside params.
// Errors naming no field go to fallback, at fallbackPath.
func reportFieldErrors(d *Decoder, err error, params, fallback *yaml.Node, path, fallbackPath string) {
	for _, fe := range fieldErrors(err) {
		if fe.Field == "" {
			d.Errorf(fallback, fallbackPath, "%s", fe.Msg)
			continue
		}
		n := params
		for part := range strings.SplitSeq(fe.Field, ".") {
			next := fieldNode(n, part)
			if next == nil {
				break
			}
			n = next
		}
		if n == nil {
			n = fallback
		}
		d.Errorf(n, join(path, fe.Field), "%s", fe.Msg)
	}
}

// fieldNode returns the node of one part of a field's path inside n: a key
// ("rate"), or a key and list indexes ("targets[1]"); nil if n has none.
func fieldNode(n *yaml.Node, part string) *yaml.Node {
	name, indexes, _ := strings.Cut(part, "[")
	v := mapValue(n, name)
	if v == nil {
		return nil
	}
	for idx := range strings.SplitSeq(indexes, "[") {
		if idx == "" {
			break
		}
		i, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
		if err != nil || v.Kind != yaml.SequenceNode || i < 0 || i >= len(v.Content) {
			return v
		}
		v = v.Content[i]
	}
	return v
}

var checkFields = []string{"name", "expect", "phases", "for", "every"}

// DecodeNode implements NodeDecoder: besides its own fields a check has
// exactly one key naming its probe kind.
func (c *Check) DecodeNode(d *Decoder, n *yaml.Node, path string) {
	c.Pos = posOf(d, n, path)
	var expectNode *yaml.Node
	var probes []*yaml.Node
	ok := keyed(d, n, path, func(k, v *yaml.Node, fp string) {
		switch k.Value {
		case "name":
			d.decode(v, fp, reflectOf(&c.Name))
		case "expect":
			expectNode = v
			c.expectGiven = true
		case "phases":
			d.decode(v, fp, reflectOf(&c.Phases))
			for i, p := range c.Phases {
				if p != Before && p != During && p != After {
					d.Errorf(v.Content[i], fmt.Sprintf("%s[%d]", fp, i), "unknown phase %q: use before, during or after", p)
				}
			}
		case "for":
			d.decode(v, fp, reflectOf(&c.For))
		case "every":
			d.decode(v, fp, reflectOf(&c.Every))
		default:
			if d.Catalog != nil {
				if _, known := d.Catalog.Probe(k.Value); known {
					probes = append(probes, k, v)
					return
				}
				d.Errorf(k, fp, "unknown field or probe kind%s", suggest(k.Value, append(slices.Clone(checkFields), d.Catalog.ProbeKinds()...)))
				return
			}
			probes = append(probes, k, v)
		}
	})
	if !ok {
		return
	}
	switch len(probes) {
	case 0:
		kinds := "a probe"
		if d.Catalog != nil {
			kinds = "one of " + strings.Join(d.Catalog.ProbeKinds(), ", ")
		}
		d.Errorf(n, path, "a check needs a probe: add %s", kinds)
		return
	case 2:
	default:
		d.Errorf(probes[2], join(path, probes[2].Value), "a check has one probe; %q is already set", probes[0].Value)
		return
	}
	c.Probe = probes[0].Value
	if c.Name == "" {
		c.Name = c.Probe
	}
	pp := join(path, c.Probe)
	raw, err := NodeToJSON(probes[1])
	if err != nil {
		d.Errorf(probes[1], pp, "%v", err)
	}
	c.RawParams = raw
	if d.Catalog == nil {
		return
	}
	info, _ := d.Catalog.Probe(c.Probe)
	params := info.NewParams()
	d.DecodeSettings(probes[1], probes[0], pp, params)
	c.Params = params
	if expectNode != nil {
		c.decodeExpect(d, expectNode, join(path, "expect"), info)
		if v, ok := params.(ExpectValidator); ok {
			measures := make([]string, len(c.Expect))
			for i, e := range c.Expect {
				measures[i] = e.Measure
			}
			reportFieldErrors(d, v.ValidateExpect(measures), expectNode, expectNode, join(path, "expect"), join(path, "expect"))
		}
	}
}

func (c *Check) decodeExpect(d *Decoder, n *yaml.Node, path string, info ProbeInfo) {
	keyed(d, n, path, func(k, v *yaml.Node, fp string) {
		kind, ok := info.Measures[k.Value]
		if !ok {
			d.Errorf(k, fp, "the %s probe does not measure %q%s", c.Probe, k.Value, suggest(k.Value, sortedKeys(info.Measures)))
			return
		}
		var src any
		switch v.Kind {
		case yaml.ScalarNode:
			src = scalarValue(v)
		case yaml.SequenceNode:
			list := make([]any, 0, len(v.Content))
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					d.Errorf(e, fp, "want a value, got %s", kindName(e))
					return
				}
				list = append(list, scalarValue(e))
			}
			src = list
		default:
			d.Errorf(v, fp, "want a tolerance such as 200, \"< 300ms\" or a list of values, got %s", kindName(v))
			return
		}
		m, err := expect.Compile(kind, src)
		if err != nil {
			d.Errorf(v, fp, "%v", err)
			return
		}
		c.Expect = append(c.Expect, Expectation{Measure: k.Value, Matcher: m, Source: src, Pos: posOf(d, v, fp)})
	})
}

// scalarValue returns a scalar node as the Go value YAML means by it.
func scalarValue(n *yaml.Node) any {
	switch n.Tag {
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return float64(i)
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	case "!!bool":
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return b
		}
	}
	return n.Value
}

var targetFields = []string{"process", "host", "netns", "mode", "maxTargets", "seed"}

// DecodeNode implements NodeDecoder: a target has one selector and a mode.
func (t *Target) DecodeNode(d *Decoder, n *yaml.Node, path string) {
	t.Pos = posOf(d, n, path)
	var modeNode *yaml.Node
	var selectors []string
	keyed(d, n, path, func(k, v *yaml.Node, fp string) {
		switch k.Value {
		case "process", "host", "netns":
			if len(selectors) > 0 {
				d.Errorf(k, fp, "a target has one selector; %s is already set", selectors[0])
				return
			}
			selectors = append(selectors, k.Value)
		}
		switch k.Value {
		case "process":
			t.Process = &ProcessSelector{}
			d.decode(v, fp, reflectOf(t.Process))
			if v.Kind == yaml.MappingNode && len(v.Content) == 0 {
				d.Errorf(v, fp, "empty selector: give at least one of pid, name, cmdline, pidfile, user")
			}
		case "host":
			t.Host = &HostSelector{}
			d.decode(v, fp, reflectOf(t.Host))
			checkInterface(d, v, fp, t.Host.Interface)
		case "netns":
			t.Netns = &NetnsSelector{}
			d.decode(v, fp, reflectOf(t.Netns))
			if v.Kind == yaml.MappingNode {
				checkNetnsName(d, v, fp, t.Netns.Name)
				checkInterface(d, v, fp, t.Netns.Interface)
			}
		case "mode":
			modeNode = v
			d.decode(v, fp, reflectOf(&t.Mode))
		case "maxTargets":
			d.decode(v, fp, reflectOf(&t.MaxTargets))
			if t.MaxTargets < 0 {
				d.Errorf(v, fp, "maxTargets must be positive")
			}
		case "seed":
			t.Seed = new(int64)
			d.decode(v, fp, reflectOf(t.Seed))
		default:
			d.Errorf(k, fp, "unknown field%s", suggest(k.Value, targetFields))
		}
	})
	if n.Kind == yaml.MappingNode && len(selectors) == 0 {
		d.Errorf(n, path, "empty target: give a selector such as process: {cmdline: \"myservice\"}, host: {} or netns: {name: blue}")
	}
	if t.Mode == "" {
		t.Mode = "one"
	} else if _, err := ParseMode(t.Mode); err != nil {
		d.Errorf(modeNode, join(path, "mode"), "%v", err)
	}
}

// checkNetnsName reports a missing or unusable namespace name: it names a
// file in /run/netns.
func checkNetnsName(d *Decoder, sel *yaml.Node, path, name string) {
	switch {
	case name == "":
		d.Errorf(sel, join(path, "name"), "required: the network namespace's name, as `ip netns list` shows it")
	case name == "." || name == ".." || strings.ContainsAny(name, "/\x00"):
		d.Errorf(valueOr(sel, "name"), join(path, "name"), "%q cannot name a network namespace: it is a file name under /run/netns", name)
	}
}

// checkInterface reports an interface name Linux would refuse (IFNAMSIZ
// is 16, with the terminating NUL).
func checkInterface(d *Decoder, sel *yaml.Node, path, name string) {
	if name != "" && (len(name) > 15 || strings.ContainsAny(name, "/: \t\x00")) {
		d.Errorf(valueOr(sel, "interface"), join(path, "interface"), "%q is not an interface name: at most 15 characters, without '/', ':' or spaces", name)
	}
}

// valueOr is the value node of key in the mapping n, or n itself.
func valueOr(n *yaml.Node, key string) *yaml.Node {
	if v := mapValue(n, key); v != nil {
		return v
	}
	return n
}

// Mode is a parsed blast-radius mode.
type Mode struct {
	// Kind is "one", "all", "fixed" or "percent".
	Kind string
	N    int
}

// ParseMode reads one, all, fixed:N or percent:N.
func ParseMode(s string) (Mode, error) {
	kind, arg, hasArg := strings.Cut(s, ":")
	switch kind {
	case "one", "all":
		if hasArg {
			return Mode{}, fmt.Errorf("mode %q takes no number", kind)
		}
		return Mode{Kind: kind}, nil
	case "fixed", "percent":
		n, err := strconv.Atoi(arg)
		if err != nil || n <= 0 {
			return Mode{}, fmt.Errorf("mode %q needs a positive number, as in %s:2", s, kind)
		}
		if kind == "percent" && n > 100 {
			return Mode{}, fmt.Errorf("mode %q: a percentage is at most 100", s)
		}
		return Mode{Kind: kind, N: n}, nil
	}
	return Mode{}, fmt.Errorf("unknown mode %q: use one, all, fixed:N or percent:N", s)
}
