package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/faultline-dev/faultline/internal/registry"
)

// Stream names as the API writes them. Toxiproxy knows upstream (client to
// upstream) and downstream (upstream to client); "both" is faultline's.
const (
	Upstream   = "upstream"
	Downstream = "downstream"
	Both       = "both"
)

// dirs is a set of directions a toxic acts on.
type dirs uint8

const (
	up   dirs = 1 << iota // client to upstream
	down                  // upstream to client
)

// parseStream reads a toxic's stream.
func parseStream(s string) (dirs, error) {
	switch strings.ToLower(s) {
	case Upstream:
		return up, nil
	case Downstream:
		return down, nil
	case Both:
		return up | down, nil
	}
	return 0, errInvalidStream
}

// attributes are a toxic type's settings, decoded from the API's JSON with
// the field names and units Toxiproxy uses.
type attributes interface {
	// check reports a setting that cannot be honoured.
	check() error
}

// toxicTypes maps a toxic type's name to a function returning its
// attributes with their defaults. Each toxic's file registers itself.
// Types whose attributes are an httpToxic act on HTTP exchanges and need a
// proxy whose protocol is http; the others (tcpToxic) act on the bytes of a
// direction.
var toxicTypes = registry.New[func() attributes]("toxic type")

// toxic is one toxic in a proxy's chain. It is never changed once in a
// chain: an update puts a new toxic with the same id in its place.
type toxic struct {
	id       uint64 // stable across updates
	name     string
	typ      string
	stream   string
	dirs     dirs
	toxicity float64
	attrs    attributes
}

// Toxic is a toxic as the API shows it.
type Toxic struct {
	Attributes any     `json:"attributes"`
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	Stream     string  `json:"stream"`
	Toxicity   float64 `json:"toxicity"`
}

func (t *toxic) view() Toxic {
	return Toxic{Attributes: t.attrs, Name: t.name, Type: t.typ, Stream: t.stream, Toxicity: t.toxicity}
}

// toxicInput is the body of a request that adds a toxic.
type toxicInput struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Stream     string          `json:"stream"`
	Toxicity   float64         `json:"toxicity"`
	Attributes json.RawMessage `json:"attributes"`
}

// newToxic builds a toxic from an API request body, with Toxiproxy's
// defaults: stream downstream, toxicity 1, name type_stream.
func newToxic(body []byte) (*toxic, error) {
	in := toxicInput{Stream: Downstream, Toxicity: 1}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, badBody(err)
	}
	d, err := parseStream(in.Stream)
	if err != nil {
		return nil, err
	}
	in.Stream = strings.ToLower(in.Stream)
	if in.Name == "" {
		in.Name = in.Type + "_" + in.Stream
	}
	newAttrs, ok := toxicTypes.Lookup(in.Type)
	if !ok {
		return nil, errInvalidToxicType
	}
	attrs := newAttrs()
	if err := decodeAttributes(in.Attributes, attrs); err != nil {
		return nil, err
	}
	if err := checkToxicity(in.Toxicity); err != nil {
		return nil, err
	}
	return &toxic{name: in.Name, typ: in.Type, stream: in.Stream, dirs: d, toxicity: in.Toxicity, attrs: attrs}, nil
}

// updated returns t with the attributes and toxicity of an API update body
// applied over its own, as Toxiproxy merges them.
func (t *toxic) updated(body []byte) (*toxic, error) {
	in := struct {
		Attributes json.RawMessage `json:"attributes"`
		Toxicity   float64         `json:"toxicity"`
	}{Toxicity: t.toxicity}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, badBody(err)
	}
	// Copy the attributes through JSON so that maps in them are not shared
	// with the toxic in place, which connections read.
	newAttrs, _ := toxicTypes.Lookup(t.typ)
	attrs := newAttrs()
	cur, err := json.Marshal(t.attrs)
	if err != nil {
		return nil, fmt.Errorf("encode attributes of toxic %s: %w", t.name, err)
	}
	if err := json.Unmarshal(cur, attrs); err != nil {
		return nil, fmt.Errorf("copy attributes of toxic %s: %w", t.name, err)
	}
	if err := decodeAttributes(in.Attributes, attrs); err != nil {
		return nil, err
	}
	if err := checkToxicity(in.Toxicity); err != nil {
		return nil, err
	}
	n := *t
	n.toxicity, n.attrs = in.Toxicity, attrs
	return &n, nil
}

// decodeAttributes decodes raw over attrs, refusing unknown fields (a
// misspelt attribute would otherwise silently be zero), then checks them.
func decodeAttributes(raw json.RawMessage, attrs attributes) error {
	if len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(attrs); err != nil {
			return badBody(fmt.Errorf("attributes: %w", err))
		}
	}
	if err := attrs.check(); err != nil {
		return badInput("attributes: %v", err)
	}
	return nil
}

func checkToxicity(v float64) error {
	if v < 0 || v > 1 {
		return badInput("toxicity %v is outside 0..1 (the probability that a connection is affected)", v)
	}
	return nil
}

// chain is a proxy's toxics, in the order they were added. A chain is
// never changed: a change makes a new one and closes the old one's changed
// channel, so connections waiting on a toxic look again.
type chain struct {
	toxics  []*toxic
	changed chan struct{}
}

func newChain(toxics []*toxic) *chain {
	return &chain{toxics: toxics, changed: make(chan struct{})}
}

func (c *chain) find(name string) int {
	return slices.IndexFunc(c.toxics, func(t *toxic) bool { return t.name == name })
}

func (c *chain) views() []Toxic {
	out := make([]Toxic, len(c.toxics))
	for i, t := range c.toxics {
		out[i] = t.view()
	}
	return out
}

func (c *chain) hasHTTP() bool {
	return slices.ContainsFunc(c.toxics, func(t *toxic) bool { return isHTTP(t) })
}

func isHTTP(t *toxic) bool {
	_, ok := t.attrs.(httpToxic)
	return ok
}
