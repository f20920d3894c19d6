package experiment_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/expect"
	"github.com/faultline-dev/faultline/experiment"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The test catalog stands for the fault and probe registries, so these
// tests pin the decoder's behaviour independently of the real kinds.
type pauseParams struct {
	ProcessGroup bool `yaml:"processGroup" json:"processGroup"`
}

type fillParams struct {
	Size    experiment.Size    `yaml:"size" json:"size"`
	Percent experiment.Percent `yaml:"percent" json:"percent"`
}

func (p *fillParams) Validate() error {
	if (p.Size == 0) == (p.Percent == 0) {
		return experiment.FieldErrorf("size", "give exactly one of size or percent")
	}
	return nil
}

// viaParams refer to a proxy of spec.proxies, as the proxy faults do.
type viaParams struct {
	Proxy string `yaml:"proxy" json:"proxy" required:"true"`
	HTTP  bool   `yaml:"http" json:"http"`
	Bound bool   `yaml:"-" json:"bound"`
}

func (p *viaParams) BindSpec(spec *experiment.Spec) error {
	px := spec.Proxy(p.Proxy)
	switch {
	case px == nil:
		return experiment.FieldErrorf("proxy", "no proxy %q in spec.proxies", p.Proxy)
	case p.HTTP && px.Protocol != experiment.ProxyHTTP:
		return experiment.FieldErrorf("proxy", "%q is a %s proxy", p.Proxy, px.Protocol)
	}
	p.Bound = true
	return nil
}

type httpParams struct {
	URL     string            `yaml:"url" json:"url" required:"true"`
	Headers map[string]string `yaml:"headers" json:"headers"`
}

type tcpParams struct {
	Address string `yaml:"address" json:"address" required:"true"`
}

type execParams struct {
	Command []string `yaml:"command" json:"command"`
}

type testCatalog struct{}

func (testCatalog) Fault(kind string) (experiment.FaultInfo, bool) {
	switch kind {
	case "test.pause":
		return experiment.FaultInfo{NewParams: func() any { return &pauseParams{} }, Targets: []string{"process"}, Reversible: true}, true
	case "test.kill":
		return experiment.FaultInfo{NewParams: func() any { return &struct{}{} }, Targets: []string{"process"}}, true
	case "test.fill":
		return experiment.FaultInfo{NewParams: func() any { return &fillParams{} }, Reversible: true}, true
	case "test.delay":
		return experiment.FaultInfo{NewParams: func() any { return &struct{}{} }, Targets: []string{"host", "netns", "process"}, Reversible: true}, true
	case "test.via":
		return experiment.FaultInfo{NewParams: func() any { return &viaParams{} }, Reversible: true}, true
	}
	return experiment.FaultInfo{}, false
}

func (testCatalog) Probe(kind string) (experiment.ProbeInfo, bool) {
	switch kind {
	case "http":
		return experiment.ProbeInfo{NewParams: func() any { return &httpParams{} }, Measures: map[string]expect.Kind{"status": expect.Number, "latency": expect.Duration, "body": expect.Text}}, true
	case "tcp":
		return experiment.ProbeInfo{NewParams: func() any { return &tcpParams{} }, Measures: map[string]expect.Kind{"latency": expect.Duration}}, true
	case "exec":
		return experiment.ProbeInfo{NewParams: func() any { return &execParams{} }, Measures: map[string]expect.Kind{"exitCode": expect.Number, "stdout": expect.Text}}, true
	}
	return experiment.ProbeInfo{}, false
}

func (testCatalog) FaultKinds() []string {
	return []string{"test.delay", "test.fill", "test.kill", "test.pause", "test.via"}
}
func (testCatalog) ProbeKinds() []string { return []string{"exec", "http", "tcp"} }

// TestInvalidDocuments loads each broken document in testdata/invalid and
// compares every error reported (all at once, file:line:column: field:
// message) with its golden file.
func TestInvalidDocuments(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*")
	var docs []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".golden") {
			docs = append(docs, f)
		}
	}
	if len(docs) < 10 {
		t.Fatalf("only %d invalid documents found", len(docs))
	}
	for _, f := range docs {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := experiment.Load(f, testCatalog{})
			if err == nil {
				t.Fatal("loaded without error")
			}
			var errs experiment.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not experiment.Errors: %v", err, err)
			}
			for _, e := range errs {
				if e.File != f {
					t.Errorf("error %q names file %q", e, e.File)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, filepath.Ext(f)) + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
				return
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run with -update to create it)", rerr)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestValidDocument(t *testing.T) {
	t.Setenv("FAULTLINE_TEST_TOKEN", "s3cr3t-token")
	x, err := experiment.Load("testdata/valid/full.yaml", testCatalog{})
	if err != nil {
		t.Fatal(err)
	}
	h := x.Spec.Hypothesis
	if h.Every.D() != 500*time.Millisecond || h.RecoverWithin.D() != experiment.DefaultRecoverWithin {
		t.Errorf("every %s recoverWithin %s: want 500ms and the default", h.Every, h.RecoverWithin)
	}
	c := h.Checks[0]
	if c.Probe != "http" || c.Params.(*httpParams).Headers["Authorization"] != "Bearer s3cr3t-token" {
		t.Errorf("check %+v: want the configuration and environment substituted", c.Params)
	}
	if !slices.Equal(c.Phases, []experiment.Phase{experiment.Before, experiment.After}) {
		t.Errorf("phases %v", c.Phases)
	}
	for _, tc := range []struct {
		measure string
		value   any
		want    bool
	}{
		{"status", 204.0, true}, {"status", 500.0, false},
		{"latency", 299 * time.Millisecond, true}, {"latency", 300 * time.Millisecond, false},
	} {
		for _, e := range c.Expect {
			if e.Measure == tc.measure && e.Matcher.Match(tc.value) != tc.want {
				t.Errorf("%s %v: match %v, want %v", tc.measure, tc.value, !tc.want, tc.want)
			}
		}
	}
	m := x.Spec.Method
	if m[0].Kind() != experiment.FaultStep || m[1].Kind() != experiment.ParallelStep || m[2].Name != "test.kill" {
		t.Errorf("steps: %v %v %q", m[0].Kind(), m[1].Kind(), m[2].Name)
	}
	tg := m[0].Target
	if tg.Mode != "percent:50" || tg.MaxTargets != 2 || *tg.Seed != 42 || !tg.Process.Cmdline.MatchString("backend --port 9001") {
		t.Errorf("target %+v", tg)
	}
	if !m[0].Params.(*pauseParams).ProcessGroup || m[0].Duration.D() != 5*time.Second {
		t.Errorf("params %+v duration %s", m[0].Params, m[0].Duration)
	}
	if m[3].Params.(*fillParams).Size != 1<<30 {
		t.Errorf("size %d", m[3].Params.(*fillParams).Size)
	}
	if x.Spec.StopWhen[0].For.D() != 3*time.Second || x.Spec.Rollbacks[0].Probe != "exec" {
		t.Errorf("stopWhen %+v rollbacks %+v", x.Spec.StopWhen[0], x.Spec.Rollbacks[0])
	}
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	if red := x.Redact(string(b)); strings.Contains(red, "s3cr3t-token") || !strings.Contains(red, "${env:FAULTLINE_TEST_TOKEN}") {
		t.Errorf("the secret was not redacted: %s", red)
	}
}

func TestDefaults(t *testing.T) {
	x, err := experiment.Parse([]byte(`
apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: defaults}
spec:
  hypothesis:
    checks: [{tcp: {address: "127.0.0.1:1"}, expect: {latency: "< 1s"}}]
  method:
    - fault: test.pause
      target: {process: {name: x}}
    - wait: 2s
`), "inline.yaml", testCatalog{})
	if err != nil {
		t.Fatal(err)
	}
	h := x.Spec.Hypothesis
	if h.Every.D() != experiment.DefaultEvery || h.RecoverWithin.D() != experiment.DefaultRecoverWithin || h.Checks[0].Name != "tcp" {
		t.Errorf("hypothesis defaults: %+v", h)
	}
	s := x.Spec.Method
	if s[0].Name != "test.pause" || s[0].Target.Mode != "one" || s[1].Name != "wait 2s" {
		t.Errorf("step defaults: %q %q %q", s[0].Name, s[0].Target.Mode, s[1].Name)
	}
}

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want experiment.Mode
		err  bool
	}{
		{"one", experiment.Mode{Kind: "one"}, false},
		{"all", experiment.Mode{Kind: "all"}, false},
		{"fixed:3", experiment.Mode{Kind: "fixed", N: 3}, false},
		{"percent:30", experiment.Mode{Kind: "percent", N: 30}, false},
		{"percent:101", experiment.Mode{}, true},
		{"fixed:0", experiment.Mode{}, true},
		{"fixed", experiment.Mode{}, true},
		{"one:1", experiment.Mode{}, true},
		{"most", experiment.Mode{}, true},
	} {
		got, err := experiment.ParseMode(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseMode(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want experiment.Size
		err  bool
	}{
		{"512", 512, false}, {"64KiB", 64 << 10, false}, {"100MB", 100e6, false},
		{"1.5GiB", 3 << 29, false}, {"2g", 2 << 30, false}, {"10 parsecs", 0, true}, {"-1MiB", 0, true},
	} {
		got, err := experiment.ParseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v", tc.in, got, err)
		}
	}
	for _, tc := range []struct {
		in  string
		err bool
	}{{"5s", false}, {"1m30s", false}, {"5", true}, {"-1s", true}, {"soon", true}} {
		if _, err := experiment.ParseDuration(tc.in); (err != nil) != tc.err {
			t.Errorf("ParseDuration(%q): %v", tc.in, err)
		}
	}
}

// FuzzParse feeds arbitrary documents to the decoder: it must never panic,
// and whatever it accepts must encode as JSON for the journal.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/valid/*", "testdata/invalid/*.yaml", "testdata/invalid/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			b, _ := os.ReadFile(file)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := experiment.Parse(data, "fuzz.yaml", testCatalog{})
		if err != nil {
			var errs experiment.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T without positions: %v", err, err)
			}
			return
		}
		if _, err := json.Marshal(x); err != nil {
			t.Fatalf("accepted document does not encode: %v", err)
		}
	})
}

// BenchmarkLoad decodes and validates a document using every feature.
func BenchmarkLoad(b *testing.B) {
	b.Setenv("FAULTLINE_TEST_TOKEN", "s3cr3t-token")
	data, err := os.ReadFile("testdata/valid/full.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := experiment.Parse(data, "full.yaml", testCatalog{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValuesReadBackFromJSON(t *testing.T) {
	var s struct {
		A, B experiment.Size
		P, Q experiment.Percent
	}
	if err := json.Unmarshal([]byte(`{"A": 1024, "B": "64MiB", "P": 30, "Q": "2.5%"}`), &s); err != nil {
		t.Fatal(err)
	}
	if s.A != 1024 || s.B != 64<<20 || s.P != 30 || s.Q != 2.5 {
		t.Errorf("got %+v", s)
	}
	if err := json.Unmarshal([]byte(`{"P": "150%"}`), &s); err == nil {
		t.Error("150% accepted")
	}
}

// TestNetworkSelectors decodes the host and netns selectors of network
// faults, an empty host selector meaning the default route's interface.
func TestNetworkSelectors(t *testing.T) {
	x, err := experiment.Parse([]byte(`
apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: selectors}
spec:
  method:
    - fault: test.delay
      target: {host: {interface: eth0}}
    - fault: test.delay
      target: {host: {}}
    - fault: test.delay
      target: {netns: {name: blue, interface: veth1}}
`), "inline.yaml", testCatalog{})
	if err != nil {
		t.Fatal(err)
	}
	m := x.Spec.Method
	for i, want := range []struct{ selector, iface, netns string }{
		{"host", "eth0", ""}, {"host", "", ""}, {"netns", "veth1", "blue"},
	} {
		tg := m[i].Target
		var iface, netns string
		switch {
		case tg.Host != nil:
			iface = tg.Host.Interface
		case tg.Netns != nil:
			iface, netns = tg.Netns.Interface, tg.Netns.Name
		}
		if tg.Selector() != want.selector || iface != want.iface || netns != want.netns || tg.Mode != "one" {
			t.Errorf("step %d: selector %q interface %q netns %q mode %q; want %+v", i, tg.Selector(), iface, netns, tg.Mode, want)
		}
	}
}

// TestProxiesBindFaults checks that spec.proxies gets its defaults and that
// fault parameters referring to a proxy are bound to it, wherever the
// proxies appear in the document.
func TestProxiesBindFaults(t *testing.T) {
	doc := `
apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: proxies}
spec:
  method:
    - fault: test.via
      params: {proxy: db}
    - parallel:
        - fault: test.via
          params: {proxy: web, http: true}
  proxies:
    - {name: db, listen: "127.0.0.1:15432", upstream: "127.0.0.1:5432"}
    - {name: web, listen: "[::1]:18080", upstream: "127.0.0.1:8080", protocol: http}
`
	x, err := experiment.Parse([]byte(doc), "proxies.yaml", testCatalog{})
	if err != nil {
		t.Fatal(err)
	}
	if got := x.Spec.Proxies[0].Protocol; got != experiment.ProxyTCP {
		t.Errorf("default protocol = %q, want tcp", got)
	}
	if p := x.Spec.Proxy("web"); p == nil || p.Listen != "[::1]:18080" || p.Protocol != experiment.ProxyHTTP {
		t.Errorf("Proxy(web) = %+v", p)
	}
	if x.Spec.Proxy("cache") != nil {
		t.Error("Proxy(cache) found a proxy that is not declared")
	}
	for _, s := range []*experiment.Step{&x.Spec.Method[0], &x.Spec.Method[1].Parallel[0]} {
		if !s.Params.(*viaParams).Bound {
			t.Errorf("step %s: parameters not bound to spec.proxies", s.Pos.Field)
		}
	}
	if pos := x.Spec.Proxies[1].FieldPos("upstream"); pos.Line != 14 || pos.Field != "spec.proxies[1].upstream" {
		t.Errorf("FieldPos(upstream) = %+v, want line 14, spec.proxies[1].upstream", pos)
	}
}
