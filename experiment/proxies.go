package experiment

import (
	"fmt"
	"net"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Proxy is a fault proxy the experiment runs for itself (spec.proxies):
// faultline listens on Listen for the experiment's whole run and forwards
// to Upstream, and proxy.* faults naming it act on it. The system under
// test must already reach its dependency through Listen.
type Proxy struct {
	Name     string `yaml:"name" json:"name"`
	Listen   string `yaml:"listen" json:"listen"`
	Upstream string `yaml:"upstream" json:"upstream"`
	// Protocol is tcp (the default) or http; HTTP faults need http.
	Protocol string `yaml:"protocol" json:"protocol,omitempty"`

	Pos Pos `yaml:"-" json:"-"`
	// fields holds the value node of each key, to place later errors.
	fields map[string]*yaml.Node
}

// The protocols a proxy of spec.proxies speaks.
const (
	ProxyTCP  = "tcp"
	ProxyHTTP = "http"
)

var proxyFields = []string{"name", "listen", "upstream", "protocol"}

// DecodeNode implements NodeDecoder: every field but protocol is required,
// and both addresses are host:port with a port.
func (p *Proxy) DecodeNode(d *Decoder, n *yaml.Node, path string) {
	p.Pos = posOf(d, n, path)
	p.fields = map[string]*yaml.Node{}
	ok := keyed(d, n, path, func(k, v *yaml.Node, fp string) {
		var dst *string
		switch k.Value {
		case "name":
			dst = &p.Name
		case "listen":
			dst = &p.Listen
		case "upstream":
			dst = &p.Upstream
		case "protocol":
			dst = &p.Protocol
		default:
			d.Errorf(k, fp, "unknown field%s", suggest(k.Value, proxyFields))
			return
		}
		p.fields[k.Value] = v
		d.decode(v, fp, reflectOf(dst))
	})
	if !ok {
		return
	}
	for _, f := range proxyFields[:3] {
		if p.fields[f] == nil {
			d.Errorf(n, join(path, f), "required field is missing")
		}
	}
	if p.Name != "" && !nameRE.MatchString(p.Name) {
		d.Errorf(p.fields["name"], join(path, "name"), "%q is not a valid proxy name: use lower-case letters, digits and '-'", p.Name)
	}
	for _, f := range []struct {
		key, addr string
	}{{"listen", p.Listen}, {"upstream", p.Upstream}} {
		if v := p.fields[f.key]; v != nil {
			if err := checkHostPort(f.addr); err != nil {
				d.Errorf(v, join(path, f.key), "%v", err)
			}
		}
	}
	switch p.Protocol {
	case "":
		p.Protocol = ProxyTCP
	case ProxyTCP, ProxyHTTP:
	default:
		d.Errorf(p.fields["protocol"], join(path, "protocol"), "%q: want tcp (bytes as they come) or http (HTTP/1.1, for the HTTP faults)", p.Protocol)
	}
}

// checkHostPort accepts host:port with a port from 1 to 65535.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port, such as 127.0.0.1:8080", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 1 to 65535", addr)
	}
	if host == "" {
		return fmt.Errorf("%q has no host: write 127.0.0.1:%s to stay on this machine, or 0.0.0.0:%s for every interface", addr, port, port)
	}
	return nil
}

// FieldPos is the position of one of the proxy's fields, or of the proxy
// itself if the field was not written.
func (p *Proxy) FieldPos(field string) Pos {
	pos := p.Pos
	pos.Field = join(p.Pos.Field, field)
	if v := p.fields[field]; v != nil {
		pos.Line, pos.Column = v.Line, v.Column
	}
	return pos
}

// Proxy returns the proxy of spec.proxies called name, or nil.
func (s *Spec) Proxy(name string) *Proxy {
	for i := range s.Proxies {
		if s.Proxies[i].Name == name {
			return &s.Proxies[i]
		}
	}
	return nil
}

// validateProxies checks what no single proxy can: names and listen
// addresses are unique.
func validateProxies(d *Decoder, ps []Proxy) {
	names, listens := map[string]bool{}, map[string]bool{}
	for i := range ps {
		p := &ps[i]
		if p.Name != "" && names[p.Name] {
			d.errs = append(d.errs, p.FieldPos("name").Errorf("duplicate proxy name %q: faults name the proxy they act on", p.Name))
		}
		names[p.Name] = true
		if p.Listen != "" && listens[p.Listen] {
			d.errs = append(d.errs, p.FieldPos("listen").Errorf("another proxy already listens on %s", p.Listen))
		}
		listens[p.Listen] = true
	}
}

// SpecBinder is implemented by fault parameters that refer to other parts
// of the document, as proxy faults refer to spec.proxies. BindSpec runs
// once the whole document is decoded and the parameters are valid; it may
// complete the parameters, and returns FieldErrors as Validate does.
type SpecBinder interface {
	BindSpec(spec *Spec) error
}

// bindSteps calls BindSpec on the parameters of every fault step.
func bindSteps(d *Decoder, spec *Spec, steps []Step) {
	for i := range steps {
		s := &steps[i]
		bindSteps(d, spec, s.Parallel)
		if b, ok := s.Params.(SpecBinder); ok && s.paramsValid {
			pp := join(s.Pos.Field, "params")
			reportFieldErrors(d, b.BindSpec(spec), s.paramsNode, s.faultNode, pp, pp)
		}
	}
}
