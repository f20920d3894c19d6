package proxy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/faulttest"
	fproxy "github.com/faultline-dev/faultline/fault/proxy"
	"github.com/faultline-dev/faultline/target"
)

func kind(t *testing.T, name string) fault.Kind {
	t.Helper()
	k, ok := fault.Lookup(name)
	if !ok {
		t.Fatalf("%s is not registered", name)
	}
	return k
}

func record(t *testing.T, kindName string, params any) *fault.Record {
	return faulttest.NewRecord(t, kindName, params, target.LocalHost())
}

func TestErrorsSayWhere(t *testing.T) {
	d := startDaemon(t)
	name := d.newProxy(t, echo(t), "")
	ctx := context.Background()
	latency := kind(t, "proxy.latency")

	// No daemon: Preflight and Recover say which URL does not answer.
	const nowhere = "http://127.0.0.1:1"
	rec := record(t, "proxy.latency", &fproxy.LatencyParams{API: nowhere, Proxy: name, Direction: "downstream", Toxicity: 100, Latency: ms(10)})
	for what, err := range map[string]error{"Preflight": latency.Preflight(ctx, rec), "Recover": latency.Recover(ctx, rec)} {
		if err == nil || !strings.Contains(err.Error(), "the proxy API at "+nowhere+" does not answer") {
			t.Errorf("%s without a daemon: %v", what, err)
		}
	}

	// No such proxy: say which proxies there are.
	rec = record(t, "proxy.latency", &fproxy.LatencyParams{API: d.api, Proxy: "nope", Direction: "downstream", Toxicity: 100, Latency: ms(10)})
	err := latency.Preflight(ctx, rec)
	if err == nil || !strings.Contains(err.Error(), `no proxy "nope" at `+d.api+" (it has "+name) {
		t.Errorf("Preflight of a missing proxy: %v", err)
	}
	if err := latency.Recover(ctx, rec); err == nil || !strings.Contains(err.Error(), "cannot tell whether toxic "+rec.ID+" is gone") {
		t.Errorf("Recover on a missing proxy: %v", err)
	}
	if err := kind(t, "proxy.down").Recover(ctx, record(t, "proxy.down", &fproxy.DownParams{API: d.api, Proxy: "nope"})); err == nil || !strings.Contains(err.Error(), `no proxy "nope" at `+d.api) {
		t.Errorf("Recover of proxy.down on a missing proxy: %v", err)
	}

	// HTTP faults need an http proxy.
	rec = record(t, "proxy.httpAbort", &fproxy.HTTPAbortParams{API: d.api, Proxy: name, Status: 500, Percentage: 100})
	if err := kind(t, "proxy.httpAbort").Preflight(ctx, rec); err == nil || !strings.Contains(err.Error(), `"protocol": "http"`) {
		t.Errorf("Preflight of httpAbort on a tcp proxy: %v", err)
	}

	// A disabled proxy cannot be taken down.
	req, _ := http.NewRequest(http.MethodPost, d.api+"/proxies/"+name, strings.NewReader(`{"enabled": false}`))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if err := kind(t, "proxy.down").Preflight(ctx, record(t, "proxy.down", &fproxy.DownParams{API: d.api, Proxy: name})); err == nil || !strings.Contains(err.Error(), "already disabled") {
		t.Errorf("Preflight of proxy.down on a disabled proxy: %v", err)
	}
}

// Inject twice (a retried injection) leaves one toxic with the fault's id.
func TestInjectTwice(t *testing.T) {
	d := startDaemon(t)
	name := d.newProxy(t, echo(t), "")
	k := kind(t, "proxy.latency")
	rec := record(t, "proxy.latency", &fproxy.LatencyParams{API: d.api, Proxy: name, Direction: "both", Toxicity: 50, Latency: ms(10)})
	for range 2 {
		if err := k.Inject(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get(d.api + "/proxies/" + name + "/toxics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var toxics []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&toxics); err != nil {
		t.Fatal(err)
	}
	if len(toxics) != 1 || toxics[0]["name"] != rec.ID || toxics[0]["stream"] != "both" || toxics[0]["toxicity"] != 0.5 {
		t.Fatalf("toxics after two injections: %v", toxics)
	}
}

func TestValidate(t *testing.T) {
	defaults := func(name string) any { return kind(t, name).NewParams() }
	for _, tc := range []struct {
		name   string
		kind   string
		set    func(p any)
		fields []string
	}{
		{"latency ok", "proxy.latency", func(p any) { q := p.(*fproxy.LatencyParams); q.Proxy, q.Latency = "db", ms(100) }, nil},
		{"latency missing", "proxy.latency", func(any) {}, []string{"proxy", "latency"}},
		{"latency sub-ms", "proxy.latency", func(p any) {
			q := p.(*fproxy.LatencyParams)
			q.Proxy, q.Latency, q.Jitter = "db", ms(1)+1, 500_000
		}, []string{"latency", "jitter"}},
		{"bad api and direction", "proxy.latency", func(p any) {
			q := p.(*fproxy.LatencyParams)
			q.API, q.Proxy, q.Latency, q.Direction, q.Toxicity = "127.0.0.1:8474", "db", ms(1), "sideways", 0
		}, []string{"api", "direction", "toxicity"}},
		{"bandwidth too low", "proxy.bandwidth", func(p any) { q := p.(*fproxy.BandwidthParams); q.Proxy, q.Rate = "db", 999 }, []string{"rate"}},
		{"timeout 0 ok", "proxy.timeout", func(p any) { p.(*fproxy.TimeoutParams).Proxy = "db" }, nil},
		{"slow close needs delay", "proxy.slowClose", func(p any) { p.(*fproxy.SlowCloseParams).Proxy = "db" }, []string{"delay"}},
		{"slicer variation", "proxy.slicer", func(p any) {
			q := p.(*fproxy.SlicerParams)
			q.Proxy, q.AverageSize, q.SizeVariation = "db", 10, 10
		}, []string{"sizeVariation"}},
		{"limit data 0 ok", "proxy.limitData", func(p any) { p.(*fproxy.LimitDataParams).Proxy = "db" }, nil},
		{"down", "proxy.down", func(any) {}, []string{"proxy"}},
		{"abort status", "proxy.httpAbort", func(p any) { q := p.(*fproxy.HTTPAbortParams); q.Proxy, q.Status, q.Percentage = "db", 100, 0 }, []string{"percentage", "status"}},
		{"delay", "proxy.httpDelay", func(p any) { p.(*fproxy.HTTPDelayParams).Proxy = "db" }, []string{"delay"}},
		{"headers", "proxy.httpHeaders", func(p any) {
			q := p.(*fproxy.HTTPHeadersParams)
			q.Proxy, q.Match.Headers = "db", map[string]string{"": "x"}
		}, []string{"match.headers", "request"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := defaults(tc.kind)
			tc.set(p)
			if got := faulttest.Fields(p.(experiment.Validator).Validate()); !slices.Equal(got, tc.fields) {
				t.Fatalf("fields %q, want %q", got, tc.fields)
			}
		})
	}
}

// catalog knows the proxy kinds, for decoding documents in tests.
type catalog struct{}

func (catalog) Fault(name string) (experiment.FaultInfo, bool) {
	k, ok := fault.Lookup(name)
	if !ok {
		return experiment.FaultInfo{}, false
	}
	return experiment.FaultInfo{NewParams: k.NewParams, Reversible: k.Info().Reversible}, true
}
func (catalog) Probe(string) (experiment.ProbeInfo, bool) { return experiment.ProbeInfo{}, false }
func (catalog) FaultKinds() []string                      { return fault.Names() }
func (catalog) ProbeKinds() []string                      { return nil }

// A document's parameters decode into the kinds' structs, with defaults,
// and go through the ledger's JSON unchanged.
func TestDocument(t *testing.T) {
	data, err := os.ReadFile("testdata/proxy-faults.yaml")
	if err != nil {
		t.Fatal(err)
	}
	x, err := experiment.Parse(data, "proxy-faults.yaml", catalog{})
	if err != nil {
		t.Fatal(err)
	}
	steps := x.Spec.Method
	lat := steps[0].Params.(*fproxy.LatencyParams)
	if lat.API != fproxy.DefaultAPI || lat.Direction != "downstream" || lat.Toxicity != 100 || lat.Latency != ms(250) || lat.Jitter != ms(20) {
		t.Errorf("proxy.latency params: %+v", lat)
	}
	abort := steps[1].Params.(*fproxy.HTTPAbortParams)
	if abort.Status != 503 || abort.Percentage != 25 || abort.Match.Method != "GET" || abort.Match.PathRegex.String() != "^/api/v[0-9]+/" || abort.Match.Headers["X-User"] != "test" {
		t.Errorf("proxy.httpAbort params: %+v", abort)
	}
	for _, s := range steps {
		b, err := json.Marshal(s.Params)
		if err != nil {
			t.Fatal(err)
		}
		again := kind(t, s.Fault).NewParams()
		if err := json.Unmarshal(b, again); err != nil {
			t.Fatalf("%s: %v", s.Fault, err)
		}
		if b2, _ := json.Marshal(again); string(b2) != string(b) {
			t.Errorf("%s: params %s read back as %s", s.Fault, b, b2)
		}
	}

	bad := strings.Replace(string(data), "latency: 250ms", "latancy: 250ms", 1)
	if _, err := experiment.Parse([]byte(bad), "bad.yaml", catalog{}); err == nil || !strings.Contains(err.Error(), `unknown field (did you mean "latency"?)`) {
		t.Errorf("a misspelt parameter: %v", err)
	}
}
