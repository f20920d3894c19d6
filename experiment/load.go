package experiment

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads, decodes and validates the experiment in file. Every problem is
// reported at once as an Errors value.
func Load(file string, cat Catalog) (*Experiment, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read experiment: %w", err)
	}
	return Parse(data, file, cat)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse decodes and validates a document held in memory; file names it in
// errors.
func Parse(data []byte, file string, cat Catalog) (*Experiment, error) {
	root, err := parseDocument(data, file, "experiment")
	if err != nil {
		return nil, err
	}
	d := &Decoder{File: file, Catalog: cat}
	x := &Experiment{File: file}
	x.Secrets = substitute(d, root)
	d.Decode(root, "", x)
	if len(d.errs) == 0 || x.APIVersion != "" {
		validate(d, x, root)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return x, nil
}

// parseDocument parses the one YAML (or JSON) document data holds; what
// names what a file holds, for the error when it holds several.
func parseDocument(data []byte, file, what string) (*yaml.Node, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		e := &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Column = 1
			e.Msg = m[2]
		}
		if err.Error() == "EOF" {
			e.Msg = "the document is empty"
		}
		return nil, Errors{e}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: file, Line: extra.Line, Column: extra.Column, Msg: fmt.Sprintf("more than one document in the file; put one %s per file", what)}}
	}
	return &root, nil
}

var refRE = regexp.MustCompile(`\$\{([A-Za-z0-9_.:-]+)\}`)

// substitute replaces ${env:NAME} everywhere and ${name} with
// spec.configuration values, in place. It returns the environment values it
// used, mapped to their reference, so journals can redact them.
func substitute(d *Decoder, root *yaml.Node) map[string]string {
	secrets := map[string]string{}
	config := map[string]string{}
	var configNode *yaml.Node
	if spec := mapValue(docRoot(root), "spec"); spec != nil {
		configNode = mapValue(spec, "configuration")
	}
	replace := func(n *yaml.Node, path string, allowConfig bool) {
		n.Value = refRE.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := ref[2 : len(ref)-1]
			if env, ok := strings.CutPrefix(name, "env:"); ok {
				v, set := os.LookupEnv(env)
				if !set {
					d.Errorf(n, path, "environment variable %s is not set (referred to as %s)", env, ref)
					return ref
				}
				if len(v) >= 4 {
					secrets[v] = ref
				}
				return v
			}
			if !allowConfig {
				d.Errorf(n, path, "%s: configuration values cannot refer to each other; use ${env:NAME} here", ref)
				return ref
			}
			v, ok := config[name]
			if !ok {
				d.Errorf(n, path, "%s is not defined in spec.configuration", ref)
				return ref
			}
			return v
		})
	}
	if configNode != nil && configNode.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(configNode.Content); i += 2 {
			k, v := configNode.Content[i], configNode.Content[i+1]
			if v.Kind == yaml.ScalarNode {
				replace(v, "spec.configuration."+k.Value, false)
				config[k.Value] = v.Value
			}
		}
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n == configNode {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], join(path, n.Content[i].Value))
			}
		case yaml.ScalarNode:
			if strings.Contains(n.Value, "${") {
				replace(n, path, true)
			}
		}
	}
	walk(docRoot(root), "")
	return secrets
}

func docRoot(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return n
}

// mapValue returns the value node of key in a mapping node, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	_, v := mapEntry(n, key)
	return v
}

// mapKey returns the key node of key in a mapping node, or nil.
func mapKey(n *yaml.Node, key string) *yaml.Node {
	k, _ := mapEntry(n, key)
	return k
}

func mapEntry(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

func posOf(d *Decoder, n *yaml.Node, path string) Pos {
	p := Pos{File: d.File, Field: path}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	return p
}

// validate checks what decoding alone cannot, and fills in defaults.
func validate(d *Decoder, x *Experiment, root *yaml.Node) {
	top := docRoot(root)
	at := func(path ...string) *yaml.Node {
		n := top
		for _, p := range path {
			if m := mapValue(n, p); m != nil {
				n = m
			} else {
				return n
			}
		}
		return n
	}
	switch x.APIVersion {
	case APIVersion:
	case "":
		d.Errorf(top, "apiVersion", "required field is missing: write apiVersion: %s", APIVersion)
	default:
		d.Errorf(at("apiVersion"), "apiVersion", "unsupported apiVersion %q: want %s", x.APIVersion, APIVersion)
	}
	switch x.Kind {
	case Kind:
	case "":
		d.Errorf(top, "kind", "required field is missing: write kind: %s", Kind)
	default:
		d.Errorf(at("kind"), "kind", "unsupported kind %q: want %s", x.Kind, Kind)
	}
	if x.Metadata.Name == "" {
		d.Errorf(at("metadata"), "metadata.name", "required field is missing: name the experiment")
	} else if !nameRE.MatchString(x.Metadata.Name) {
		d.Errorf(at("metadata", "name"), "metadata.name", "%q is not a valid name: use lower-case letters, digits and '-', at most 63 characters", x.Metadata.Name)
	}
	switch {
	case mapKey(top, "spec") == nil:
		d.Errorf(top, "spec", "required field is missing: the spec holds the method")
	case len(x.Spec.Method) == 0:
		d.Errorf(at("spec"), "spec.method", "the method needs at least one step")
	}
	if h := x.Spec.Hypothesis; h != nil {
		if h.Every == 0 {
			h.Every = Duration(DefaultEvery)
		}
		if mapKey(at("spec", "hypothesis"), "recoverWithin") == nil {
			h.RecoverWithin = Duration(DefaultRecoverWithin)
		}
		switch {
		case mapKey(at("spec", "hypothesis"), "stableSamples") == nil:
			h.StableSamples = DefaultStableSamples
		case h.StableSamples < 1:
			d.Errorf(at("spec", "hypothesis", "stableSamples"), "spec.hypothesis.stableSamples", "must be at least 1")
		}
		if len(h.Checks) == 0 {
			d.Errorf(at("spec", "hypothesis"), "spec.hypothesis.checks", "a hypothesis needs at least one check")
		}
		uniqueNames(d, h.Checks)
		for i := range h.Checks {
			c := &h.Checks[i]
			if !c.expectGiven {
				d.errs = append(d.errs, c.Pos.Errorf("check %q has no expect block: say what steady state means", c.Name))
			}
			if c.For != 0 {
				d.errs = append(d.errs, c.Pos.Errorf("`for` belongs to stop conditions; a hypothesis check is judged per sample"))
			}
		}
	}
	uniqueNames(d, x.Spec.StopWhen)
	for i := range x.Spec.StopWhen {
		c := &x.Spec.StopWhen[i]
		if !c.expectGiven {
			d.errs = append(d.errs, c.Pos.Errorf("stop condition %q has no expect block: say what must hold for the run to go on", c.Name))
		}
		if len(c.Phases) > 0 {
			d.errs = append(d.errs, c.Pos.Errorf("stop conditions run during the method only; remove phases"))
		}
	}
	for i := range x.Spec.Rollbacks {
		if len(x.Spec.Rollbacks[i].Phases) > 0 || x.Spec.Rollbacks[i].For != 0 {
			d.errs = append(d.errs, x.Spec.Rollbacks[i].Pos.Errorf("rollbacks take no phases or for"))
		}
	}
	validateProxies(d, x.Spec.Proxies)
	bindSteps(d, &x.Spec, x.Spec.Method)
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func uniqueNames(d *Decoder, cs []Check) {
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.Name] {
			d.errs = append(d.errs, c.Pos.Errorf("duplicate name %q: names tell checks apart in the journal", c.Name))
		}
		seen[c.Name] = true
	}
}

// sortedKeys returns a map's keys in order, for messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
