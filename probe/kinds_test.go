package probe_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/probe"
)

// catalog exposes the probe registry to the document decoder; it knows no
// fault kinds.
type catalog struct{}

func (catalog) Fault(string) (experiment.FaultInfo, bool) { return experiment.FaultInfo{}, false }

func (catalog) Probe(kind string) (experiment.ProbeInfo, bool) {
	k, ok := probe.Lookup(kind)
	if !ok {
		return experiment.ProbeInfo{}, false
	}
	return experiment.ProbeInfo{NewParams: k.NewParams, Measures: k.Info().Measures}, true
}

func (catalog) FaultKinds() []string { return nil }
func (catalog) ProbeKinds() []string { return probe.Names() }

// doc wraps one check, written as a YAML flow mapping, in a whole document.
func doc(check string) []byte {
	return fmt.Appendf(nil, `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: probe-test}
spec:
  hypothesis:
    checks:
      - %s
  method:
    - wait: 1ms
`, check)
}

// parseCheck decodes a document holding check and returns the check.
func parseCheck(t *testing.T, check string) *experiment.Check {
	t.Helper()
	x, err := experiment.Parse(doc(check), "test.yaml", catalog{})
	if err != nil {
		t.Fatalf("parse %s:\n%v", check, err)
	}
	return &x.Spec.Hypothesis.Checks[0]
}

// parseErr decodes a document holding check, which must be invalid.
func parseErr(t *testing.T, check string) string {
	t.Helper()
	_, err := experiment.Parse(doc(check), "test.yaml", catalog{})
	if err == nil {
		t.Fatalf("parse %s: no error", check)
	}
	return err.Error()
}

// runCheck decodes check and samples it once, bounded by a generous
// deadline.
func runCheck(t *testing.T, check string) probe.Sample {
	t.Helper()
	c := parseCheck(t, check)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return probe.Run(ctx, c)
}

// flowCase is a check that goes the whole way: document, decoding, one
// sample, judging.
type flowCase struct {
	name  string
	check string
	ok    bool
	// fail, when set, must appear in the joined failures.
	fail string
}

func runFlow(t *testing.T, cases []flowCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := runCheck(t, tc.check)
			if s.OK != tc.ok {
				t.Fatalf("OK = %v, want %v; failures %q; values %v; detail %q", s.OK, tc.ok, s.Failures, s.Values, s.Detail)
			}
			if got := strings.Join(s.Failures, "\n"); !strings.Contains(got, tc.fail) {
				t.Errorf("failures %q do not mention %q", got, tc.fail)
			}
			if tc.ok && len(s.Failures) > 0 {
				t.Errorf("passing sample with failures %q", s.Failures)
			}
		})
	}
}

// invalidCase is a check the decoder must reject with every part of want
// in its message.
type invalidCase struct {
	name  string
	check string
	want  []string
}

func runInvalid(t *testing.T, cases []invalidCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := parseErr(t, tc.check)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

func TestKindsRegistered(t *testing.T) {
	for name, primary := range map[string]string{"http": "latency", "tcp": "latency", "exec": "duration", "process": "count"} {
		k, ok := probe.Lookup(name)
		if !ok {
			t.Errorf("probe kind %s is not registered", name)
			continue
		}
		info := k.Info()
		if info.Primary != primary {
			t.Errorf("%s: primary %q, want %q", name, info.Primary, primary)
		}
		if _, ok := info.Measures[info.Primary]; !ok {
			t.Errorf("%s: primary %q is not a measure", name, info.Primary)
		}
	}
}

// TestJudge judges fixed measurements against tolerances as a document
// writes them, so the YAML types of the tolerances (numbers, quoted
// strings, lists) are the real ones.
func TestJudge(t *testing.T) {
	cases := []struct {
		name   string
		expect string
		values map[string]any
		err    string
		ok     bool
		fail   string
	}{
		{"status equal", "{status: 200}", map[string]any{"status": 200.0}, "", true, ""},
		{"status differs", "{status: 200}", map[string]any{"status": 503.0}, "", false, "status 503, want 200"},
		{"status list hit", "{status: [200, 204]}", map[string]any{"status": 204.0}, "", true, ""},
		{"status list miss", "{status: [200, 204]}", map[string]any{"status": 404.0}, "", false, "status 404, want [200 204]"},
		{"status class", `{status: "2xx"}`, map[string]any{"status": 299.0}, "", true, ""},
		{"status class upper bound", `{status: "2xx"}`, map[string]any{"status": 300.0}, "", false, "want 2xx"},
		{"status range low end", `{status: "200-299"}`, map[string]any{"status": 200.0}, "", true, ""},
		{"status range above", `{status: "200-299"}`, map[string]any{"status": 300.0}, "", false, "status 300, want 200-299"},
		{"status not equal", `{status: "!= 500"}`, map[string]any{"status": 502.0}, "", true, ""},
		{"latency under", `{latency: "< 300ms"}`, map[string]any{"latency": 299 * time.Millisecond}, "", true, ""},
		{"latency at the bound", `{latency: "< 300ms"}`, map[string]any{"latency": 300 * time.Millisecond}, "", false, "latency 300ms, want < 300ms"},
		{"latency range", `{latency: "100ms..1s"}`, map[string]any{"latency": 500 * time.Millisecond}, "", true, ""},
		{"value number", "{value: 3}", map[string]any{"value": 3.0}, "", true, ""},
		{"value number differs", "{value: 3}", map[string]any{"value": 4.0}, "", false, "value 4, want 3"},
		{"value float", "{value: 0.5}", map[string]any{"value": 0.5}, "", true, ""},
		{"value number against a JSON string", "{value: 3}", map[string]any{"value": "3"}, "", true, ""},
		{"value comparison", `{value: "> 2"}`, map[string]any{"value": 3.0}, "", true, ""},
		{"value string", "{value: up}", map[string]any{"value": "up"}, "", true, ""},
		{"value quoted string", `{value: "up"}`, map[string]any{"value": "up"}, "", true, ""},
		{"value string differs", "{value: up}", map[string]any{"value": "down"}, "", false, `value "down", want up`},
		{"value string is not a number", "{value: up}", map[string]any{"value": 1.0}, "", false, "value 1, want up"},
		{"value bool", "{value: true}", map[string]any{"value": true}, "", true, ""},
		{"value any of", "{value: [up, degraded]}", map[string]any{"value": "degraded"}, "", true, ""},
		{"body regexp", `{body: "^ok"}`, map[string]any{"body": "ok\n"}, "", true, ""},
		{"body regexp miss", `{body: "^ok"}`, map[string]any{"body": "not ok"}, "", false, `body "not ok", want ^ok`},
		{"not measured", "{value: 1}", map[string]any{"status": 200.0}, "", false, "value: not measured"},
		{"error fails alone", "{status: 200, value: 1}", map[string]any{"latency": time.Second}, "GET x: refused", false, "GET x: refused"},
		{"error and a measured miss", `{latency: "< 1s"}`, map[string]any{"latency": 2 * time.Second}, "timed out after 2s", false, "latency 2s, want < 1s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := parseCheck(t, `{http: {url: "http://127.0.0.1:1/", jsonPath: "$.status"}, expect: `+tc.expect+`}`)
			ok, fails := probe.Judge(c.Expect, probe.Measurement{Values: tc.values, Err: tc.err})
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v; failures %q", ok, tc.ok, fails)
			}
			if got := strings.Join(fails, "\n"); !strings.Contains(got, tc.fail) {
				t.Errorf("failures %q do not mention %q", got, tc.fail)
			}
			if tc.err != "" && len(fails) > 0 && fails[0] != tc.err {
				t.Errorf("first failure %q, want the error %q", fails[0], tc.err)
			}
			if tc.err != "" && strings.Contains(strings.Join(fails, "\n"), "not measured") {
				t.Errorf("a failed measurement also reports values as not measured: %q", fails)
			}
		})
	}
}

func TestExpectRejectsWhatAProbeDoesNotMeasure(t *testing.T) {
	runInvalid(t, []invalidCase{
		{"unknown measure", `{tcp: {address: "127.0.0.1:1"}, expect: {status: 200}}`, []string{`the tcp probe does not measure "status"`}},
		{"duration without unit", `{tcp: {address: "127.0.0.1:1"}, expect: {latency: "< 300"}}`, []string{"expect.latency", "unit"}},
		{"bad status", `{http: {url: "http://127.0.0.1:1/"}, expect: {status: fine}}`, []string{"expect.status", "bad tolerance"}},
	})
}
