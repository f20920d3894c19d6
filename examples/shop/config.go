package shop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/examples/shop/resilience"
)

// Services are the shop's services, dependencies before their callers
// (the order they start in).
var Services = []string{"catalogue", "carts", "payment", "shipping", "orders", "frontend"}

// DefaultPorts are the services' loopback ports unless told otherwise
// (clear of the storefront demo's 8080 and 9001-9003).
var DefaultPorts = map[string]int{
	"frontend": 8180, "catalogue": 8181, "carts": 8182, "orders": 8183, "payment": 8184, "shipping": 8185,
}

// Config is what the shop's services share: where each listens, where
// their stores live, and the resilience of every call edge. It is read
// from YAML or JSON (JSON is what `demo shop up` writes for the services).
type Config struct {
	// Resilience names the profile Calls started from: off or on.
	Resilience string `json:"resilience" yaml:"resilience"`
	// Calls is the policy of each call edge, e.g. calls.orders.payment.
	Calls resilience.Policy `json:"calls" yaml:"calls"`
	// Ports maps each service to its port on 127.0.0.1.
	Ports map[string]int `json:"ports" yaml:"ports"`
	// DataDir holds one SQLite store per service (SERVICE.db).
	DataDir string `json:"dataDir" yaml:"dataDir"`
}

// Addr is where service listens.
func (c Config) Addr(service string) string { return "127.0.0.1:" + strconv.Itoa(c.Ports[service]) }

// URL is service's base URL.
func (c Config) URL(service string) string { return "http://" + c.Addr(service) }

// Options are the layers a Config is built from, each over the one
// before: the profile, the file, then the flags.
type Options struct {
	// Profile is the resilience profile (off or on); empty means the
	// file's, or off.
	Profile string
	// File is a YAML or JSON Config; its calls adjust the profile's edge
	// by edge, field by field.
	File string
	// Set adjusts single fields of the calls: "orders.payment.timeout=2s".
	Set []string
	// Ports adjusts single ports: "frontend=8180".
	Ports []string
	// DataDir, if set, replaces the file's.
	DataDir string
}

// Load builds and validates a Config from o.
func Load(o Options) (Config, error) {
	var file []byte
	if o.File != "" {
		b, err := os.ReadFile(o.File)
		if err != nil {
			return Config{}, fmt.Errorf("shop config: %w", err)
		}
		file = b
	}
	profile := o.Profile
	if profile == "" && file != nil {
		var head struct {
			Resilience string `yaml:"resilience"`
		}
		if err := yaml.Unmarshal(file, &head); err != nil {
			return Config{}, fmt.Errorf("shop config %s: %w", o.File, err)
		}
		profile = head.Resilience
	}
	if profile == "" {
		profile = "off"
	}
	calls, err := resilience.Profile(profile)
	if err != nil {
		return Config{}, fmt.Errorf("shop config: %w", err)
	}
	c := Config{Resilience: profile, Calls: calls, Ports: maps.Clone(DefaultPorts)}
	if file != nil {
		if err := decodeStrict(file, &c); err != nil {
			return Config{}, fmt.Errorf("shop config %s: %w", o.File, err)
		}
		c.Resilience = profile
	}
	for _, kv := range o.Set {
		if err := set(&c.Calls, kv); err != nil {
			return Config{}, fmt.Errorf("shop config: --set %s: %w", kv, err)
		}
	}
	for _, kv := range o.Ports {
		name, port, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(port)
		if !ok || err != nil {
			return Config{}, fmt.Errorf("shop config: --ports %s: want SERVICE=PORT, e.g. frontend=8180", kv)
		}
		c.Ports[name] = n
	}
	if o.DataDir != "" {
		c.DataDir = o.DataDir
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("shop config: %w", err)
	}
	return c, nil
}

// decodeStrict decodes YAML (or JSON) over v, refusing unknown fields.
func decodeStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) { // an empty file changes nothing
		return err
	}
	return nil
}

var pathRE = regexp.MustCompile(`^[a-zA-Z]+(\.[a-zA-Z]+)+$`)

// set applies one "edge.field=value" (e.g. orders.payment.breaker.failures=3)
// to p, the value read as YAML would read it.
func set(p *resilience.Policy, kv string) error {
	path, value, ok := strings.Cut(kv, "=")
	if !ok || !pathRE.MatchString(path) {
		return errors.New("want CALLER.DEPENDENCY.FIELD=VALUE, e.g. orders.payment.timeout=2s")
	}
	// Build {a: {b: {c: value}}} and decode it like a file's calls.
	node := &yaml.Node{Kind: yaml.ScalarNode, Value: value}
	keys := strings.Split(path, ".")
	for i := len(keys) - 1; i >= 0; i-- {
		node = &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: keys[i]}, node}}
	}
	b, err := yaml.Marshal(node)
	if err != nil {
		return err
	}
	return decodeStrict(b, p)
}

// Validate says what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if !slices.Contains(resilience.Profiles, c.Resilience) {
		errs = append(errs, fmt.Errorf("resilience: %q: want off or on", c.Resilience))
	}
	if err := c.Calls.Validate(); err != nil {
		errs = append(errs, err)
	}
	seen := map[int]string{}
	for _, s := range slices.Sorted(maps.Keys(c.Ports)) {
		p := c.Ports[s]
		switch {
		case !slices.Contains(Services, s):
			errs = append(errs, fmt.Errorf("ports.%s: no such service (want one of %s)", s, strings.Join(Services, ", ")))
		case p < 1 || p > 65535:
			errs = append(errs, fmt.Errorf("ports.%s: %d is not a port", s, p))
		case seen[p] != "":
			errs = append(errs, fmt.Errorf("ports.%s: %d is %s's port already", s, p, seen[p]))
		}
		seen[p] = s
	}
	return errors.Join(errs...)
}
