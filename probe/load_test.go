package probe_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/probe"
)

// loadServer answers 200, or what mode says: "fail" answers 503 to every
// other request, "stall" holds every request for 400ms, "hang" until the
// test ends.
type loadServer struct {
	*httptest.Server
	mode     atomic.Value // string
	requests atomic.Int64
}

func newLoadServer(t *testing.T) *loadServer {
	t.Helper()
	s := &loadServer{}
	s.mode.Store("ok")
	release := make(chan struct{})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.requests.Add(1)
		switch s.mode.Load() {
		case "fail":
			if n%2 == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		case "stall":
			time.Sleep(400 * time.Millisecond)
		case "hang":
			<-release
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(release) }) // runs before Close
	return s
}

// startLoadCheck decodes a load check and stops its generator when the
// test ends, as the engine does when a run ends.
func startLoadCheck(t *testing.T, check string) *experiment.Check {
	t.Helper()
	c := parseCheck(t, check)
	t.Cleanup(func() { probe.StopAll([]*experiment.Check{c}) })
	return c
}

func sample(t *testing.T, c *experiment.Check) probe.Sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return probe.Run(ctx, c)
}

// quiet reports whether the server got no request for a while.
func (s *loadServer) quiet(d time.Duration) bool {
	before := s.requests.Load()
	time.Sleep(d)
	return s.requests.Load() == before
}

func TestLoadProbeJudgesTheSlidingWindow(t *testing.T) {
	s := newLoadServer(t)
	c := startLoadCheck(t, fmt.Sprintf(`{name: storefront under load, load: {url: "%s/", rate: 100, window: 300ms, timeout: 1s}, expect: {successRatio: ">= 0.99", p99: "< 200ms", rate: ">= 50"}}`, s.URL))

	first := sample(t, c)
	if !first.OK {
		t.Fatalf("healthy server: failures %q, values %v", first.Failures, first.Values)
	}
	if n, _ := first.Values["requests"].(float64); n < 20 {
		t.Errorf("the first sample waited for %g requests, want 20", n)
	}
	for _, m := range []string{"successRatio", "rate", "p50", "p90", "p99", "p999", "max", "errors", "requests"} {
		if _, ok := first.Values[m]; !ok {
			t.Errorf("%s not measured: %v", m, first.Values)
		}
	}

	s.mode.Store("fail")
	time.Sleep(350 * time.Millisecond) // a window of failures
	failing := sample(t, c)
	if fails := strings.Join(failing.Failures, "\n"); failing.OK || !strings.Contains(fails, "successRatio 0.5") || !strings.Contains(fails, "want >= 0.99") {
		t.Errorf("half the requests failing: OK %v, failures %q, values %v", failing.OK, failing.Failures, failing.Values)
	}
	if !strings.Contains(failing.Detail, "503 ×") {
		t.Errorf("detail %q does not count the 503s", failing.Detail)
	}

	s.mode.Store("stall")
	time.Sleep(700 * time.Millisecond) // a window of answers that each took 400ms
	stalled := sample(t, c)
	if p99, _ := stalled.Values["p99"].(time.Duration); stalled.OK || p99 < 400*time.Millisecond {
		t.Errorf("server holding requests 400ms: OK %v, p99 %v, failures %q", stalled.OK, stalled.Values["p99"], stalled.Failures)
	}

	s.mode.Store("ok")
	time.Sleep(800 * time.Millisecond) // the stalled requests finish, then a clean window
	if again := sample(t, c); !again.OK {
		t.Errorf("healthy again: failures %q", again.Failures)
	}

	probe.StopAll([]*experiment.Check{c})
	if !s.quiet(100 * time.Millisecond) {
		t.Error("requests still arrive after Stop")
	}
}

func TestLoadProbeReportsNoAnswerAsAnError(t *testing.T) {
	s := newLoadServer(t)
	s.mode.Store("hang")
	c := startLoadCheck(t, fmt.Sprintf(`{name: hung, load: {url: "%s/", rate: 50, window: 200ms}, expect: {p99: "< 1s"}}`, s.URL))
	smp := sample(t, c)
	if smp.OK || !strings.Contains(smp.Err, "no request completed in the last 200ms") {
		t.Errorf("hung server: OK %v, error %q", smp.OK, smp.Err)
	}
	if smp.Took < 190*time.Millisecond {
		t.Errorf("the first sample took %s; it waits up to a window for answers", smp.Took)
	}
}

func TestLoadProbeStopsWhenNoLongerSampled(t *testing.T) {
	s := newLoadServer(t)
	c := startLoadCheck(t, fmt.Sprintf(`{name: forgotten, load: {url: "%s/", rate: 100, window: 100ms}, expect: {successRatio: 1}}`, s.URL))
	if smp := sample(t, c); !smp.OK {
		t.Fatalf("failures %q", smp.Failures)
	}
	// Three windows without a sample stop the generator.
	time.Sleep(400 * time.Millisecond)
	if !s.quiet(100 * time.Millisecond) {
		t.Error("the generator still runs 4 windows after the last sample")
	}
	// A later sample starts it again.
	if smp := sample(t, c); !smp.OK {
		t.Errorf("sample after the idle stop: failures %q", smp.Failures)
	}
}

func TestLoadProbeWeightedTargetsClosedModel(t *testing.T) {
	s := newLoadServer(t)
	var a, b atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(http.ResponseWriter, *http.Request) { a.Add(1) })
	mux.HandleFunc("/b", func(w http.ResponseWriter, _ *http.Request) { b.Add(1); w.WriteHeader(http.StatusTeapot) })
	s.Config.Handler = mux
	c := startLoadCheck(t, fmt.Sprintf(`{name: mix, load: {targets: [{url: "%[1]s/a", weight: 3}, {url: "%[1]s/b", method: POST, body: x}], rate: 0, concurrency: 2, window: 200ms, expectStatus: [200, 418]}, expect: {successRatio: 1, errors: 0}}`, s.URL))
	smp := sample(t, c)
	if !smp.OK {
		t.Fatalf("failures %q", smp.Failures)
	}
	if share := float64(a.Load()) / float64(a.Load()+b.Load()); share < 0.7 || share > 0.8 {
		t.Errorf("/a got %.2f of the requests, want 0.75", share)
	}
}

func TestLoadProbeSettings(t *testing.T) {
	k, _ := probe.Lookup("load")
	if p := k.Info().Primary; p != "p99" {
		t.Errorf("primary %q, want p99", p)
	}
	runInvalid(t, []invalidCase{
		{"no url", `{load: {rate: 10}}`, []string{"load.url: required"}},
		{"url and targets", `{load: {url: "http://127.0.0.1:1/", targets: [{url: "http://127.0.0.1:1/"}]}}`, []string{"load.targets: give url or targets, not both"}},
		{"method beside targets", `{load: {method: POST, targets: [{url: "http://127.0.0.1:1/"}]}}`, []string{"load.method: with targets, set method in each target"}},
		{"bad target", `{load: {targets: [{url: "http://127.0.0.1:1/"}, {url: "ftp://127.0.0.1:1/"}]}}`, []string{"load.targets[1].url:", "is not an absolute http or https URL"}},
		{"target without url", `{load: {targets: [{weight: 2}]}}`, []string{"load.targets[0].url: required field is missing"}},
		{"bad weight", `{load: {targets: [{url: "http://127.0.0.1:1/", weight: 5000}]}}`, []string{"load.targets[0].weight: 5000 is outside 1..1000"}},
		{"bad method", `{load: {url: "http://127.0.0.1:1/", method: get}}`, []string{"load.method: methods are case-sensitive: write GET"}},
		{"negative rate", `{load: {url: "http://127.0.0.1:1/", rate: -5}}`, []string{"load.rate: -5 is outside"}},
		{"closed without workers", `{load: {url: "http://127.0.0.1:1/", rate: 0, concurrency: 0}}`, []string{"load.concurrency: must be at least 1"}},
		{"short window", `{load: {url: "http://127.0.0.1:1/", window: 10ms}}`, []string{"load.window: must be at least 100ms"}},
		{"bad expectStatus", `{load: {url: "http://127.0.0.1:1/", expectStatus: fine}}`, []string{"load.expectStatus:", "want a status tolerance"}},
		{"bad expectStatus beside a bad target", `{load: {targets: [{url: "ftp://127.0.0.1:1/"}], expectStatus: fine}}`, []string{"load.targets[0].url:", "load.expectStatus:"}},
		{"unknown measure", `{load: {url: "http://127.0.0.1:1/"}, expect: {latency: "< 1s"}}`, []string{`the load probe does not measure "latency"`}},
	})
}
