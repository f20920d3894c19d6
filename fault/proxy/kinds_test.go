package proxy_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/faulttest"
	fproxy "github.com/faultline-dev/faultline/fault/proxy"
	proxyserver "github.com/faultline-dev/faultline/proxy"
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
	rec := record(t, "proxy.latency", &fproxy.LatencyParams{At: fproxy.At{API: nowhere, Proxy: name}, Direction: "downstream", Toxicity: 100, Latency: ms(10)})
	for what, err := range map[string]error{"Preflight": latency.Preflight(ctx, rec), "Recover": latency.Recover(ctx, rec)} {
		if err == nil || !strings.Contains(err.Error(), "the proxy API at "+nowhere+" does not answer") {
			t.Errorf("%s without a daemon: %v", what, err)
		}
	}

	// No such proxy: say which proxies there are.
	rec = record(t, "proxy.latency", &fproxy.LatencyParams{At: fproxy.At{API: d.api, Proxy: "nope"}, Direction: "downstream", Toxicity: 100, Latency: ms(10)})
	err := latency.Preflight(ctx, rec)
	if err == nil || !strings.Contains(err.Error(), `no proxy "nope" at `+d.api+" (it has "+name) {
		t.Errorf("Preflight of a missing proxy: %v", err)
	}
	if err := latency.Recover(ctx, rec); err == nil || !strings.Contains(err.Error(), "cannot tell whether toxic "+rec.ID+" is gone") {
		t.Errorf("Recover on a missing proxy: %v", err)
	}
	if err := kind(t, "proxy.down").Recover(ctx, record(t, "proxy.down", &fproxy.DownParams{At: fproxy.At{API: d.api, Proxy: "nope"}})); err == nil || !strings.Contains(err.Error(), `no proxy "nope" at `+d.api) {
		t.Errorf("Recover of proxy.down on a missing proxy: %v", err)
	}

	// HTTP faults need an http proxy.
	rec = record(t, "proxy.httpAbort", &fproxy.HTTPAbortParams{At: fproxy.At{API: d.api, Proxy: name}, Status: 500, Percentage: 100})
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
	if err := kind(t, "proxy.down").Preflight(ctx, record(t, "proxy.down", &fproxy.DownParams{At: fproxy.At{API: d.api, Proxy: name}})); err == nil || !strings.Contains(err.Error(), "already disabled") {
		t.Errorf("Preflight of proxy.down on a disabled proxy: %v", err)
	}
}

// Inject twice (a retried injection) leaves one toxic with the fault's id.
func TestInjectTwice(t *testing.T) {
	d := startDaemon(t)
	name := d.newProxy(t, echo(t), "")
	k := kind(t, "proxy.latency")
	rec := record(t, "proxy.latency", &fproxy.LatencyParams{At: fproxy.At{API: d.api, Proxy: name}, Direction: "both", Toxicity: 50, Latency: ms(10)})
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
	if lat.API != "" || lat.InProcess || lat.Direction != "downstream" || lat.Toxicity != 100 || lat.Latency != ms(250) || lat.Jitter != ms(20) {
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

	own := steps[len(steps)-1].Params.(*fproxy.LatencyParams)
	if !own.InProcess || own.API != "" {
		t.Errorf("a fault on a proxy of spec.proxies is not bound to it: %+v", own.At)
	}
	if b, _ := json.Marshal(own); !strings.Contains(string(b), `"inProcess":true`) {
		t.Errorf("the ledger's JSON does not say the proxy is in-process: %s", b)
	}

	for _, tc := range []struct{ from, to, want string }{
		{"latency: 250ms", "latancy: 250ms", `unknown field (did you mean "latency"?)`},
		{"fault: proxy.latency\n      params: {proxy: cache, latency: 10ms}", "fault: proxy.httpAbort\n      params: {proxy: cache}",
			`proxy-faults.yaml:45:23: spec.method[11].params.proxy: "cache" passes TCP bytes: HTTP faults need a proxy with protocol: http in spec.proxies`},
	} {
		bad := strings.Replace(string(data), tc.from, tc.to, 1)
		if _, err := experiment.Parse([]byte(bad), "proxy-faults.yaml", catalog{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %s", tc.to, err, tc.want)
		}
	}
}

// TestInProcessRecovery: a fault in an experiment's own proxy is recovered
// through the run's proxy while the run lives; from another process it is
// over once its owner has exited, and refused while the owner still runs.
func TestInProcessRecovery(t *testing.T) {
	local, err := proxyserver.StartLocal("run-1", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	listen := freeAddr(t)
	if err := local.Add(proxyserver.Config{Name: "svc", Listen: listen, Upstream: echo(t)}); err != nil {
		t.Fatal(err)
	}
	params := &fproxy.LatencyParams{At: fproxy.At{Proxy: "svc", InProcess: true}, Direction: "downstream", Toxicity: 100, Latency: ms(10)}
	rec := record(t, "proxy.latency", params)
	rec.Run = "run-1"
	latency := kind(t, "proxy.latency")
	inRun := proxyserver.WithLocal(context.Background(), local)
	if err := latency.Inject(inRun, rec); err != nil {
		t.Fatal(err)
	}
	if n := toxicCount(t, local.URL, "svc"); n != 1 {
		t.Fatalf("%d toxics after Inject, want 1", n)
	}

	// Another process while the owner (this test) runs: refused.
	if err := latency.Recover(context.Background(), rec); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("Recover without the run's proxy, owner alive: %v", err)
	}
	// The run itself: the toxic goes.
	if err := latency.Recover(inRun, rec); err != nil {
		t.Fatal(err)
	}
	if n := toxicCount(t, local.URL, "svc"); n != 0 {
		t.Errorf("%d toxics after Recover, want 0", n)
	}
	// Another process after the owner exited: nothing left to undo.
	dead := *rec
	dead.Owner = fault.Owner{PID: 999_999_999, StartTime: 1}
	var notes []string
	ctx := fault.WithNotes(context.Background(), func(m string) { notes = append(notes, m) })
	if err := latency.Recover(ctx, &dead); err != nil || len(notes) != 1 || !strings.Contains(notes[0], "ended with it") {
		t.Errorf("Recover with the owner gone: %v, notes %q", err, notes)
	}
}

func toxicCount(t *testing.T, api, name string) int {
	t.Helper()
	resp, err := http.Get(api + "/proxies/" + name + "/toxics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var toxics []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&toxics); err != nil {
		t.Fatal(err)
	}
	return len(toxics)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
