package main

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestLoadCommand(t *testing.T) {
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("X-Test") == "yes" {
			posts.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, nil)

	r := e.faultline(t, "load", srv.URL, "--rate", "100", "--duration", "500ms", "--json", "--method", "POST", "--header", "X-Test: yes", "--body", "{}")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var got struct {
		Model        string           `json:"model"`
		TargetRate   float64          `json:"targetRate"`
		Requests     int64            `json:"requests"`
		SuccessRatio float64          `json:"successRatio"`
		Status       map[string]int   `json:"status"`
		Latency      map[string]int64 `json:"latency"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if got.Model != "open" || got.TargetRate != 100 || got.Requests != 50 || got.SuccessRatio != 1 || got.Status["200"] != 50 || got.Latency["p99"] <= 0 {
		t.Errorf("summary %+v", got)
	}
	if posts.Load() != 50 {
		t.Errorf("the server got %d POSTs with the header, want 50", posts.Load())
	}

	r = e.faultline(t, "load", srv.URL, "--rate", "0", "--concurrency", "2", "--duration", "200ms")
	if r.code != 0 || !strings.Contains(r.stdout, "closed model, 2 workers") || !strings.Contains(r.stdout, "latency   p50") {
		t.Errorf("human summary: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestLoadBadFlagsIsAUsageError(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"load"}, "give a URL to load, or --scenario FILE"},
		{[]string{"load", "http://127.0.0.1:1/", "http://127.0.0.1:2/"}, "accepts one URL, received 2 arguments"},
		{[]string{"load", "http://127.0.0.1:1/", "--scenario", "shop.yaml"}, "give a URL or --scenario, not both"},
		{[]string{"load", "127.0.0.1:8080"}, "URL: \"127.0.0.1:8080\" is not an absolute http or https URL"},
		{[]string{"load", "http://127.0.0.1:1/", "--rate", "-1"}, "--rate: -1 is outside"},
		{[]string{"load", "http://127.0.0.1:1/", "--rate", "fast"}, "invalid argument"},
		{[]string{"load", "http://127.0.0.1:1/", "--duration", "0s"}, "--duration must be above zero"},
		{[]string{"load", "http://127.0.0.1:1/", "--concurrency", "0"}, "--concurrency: must be at least 1"},
		{[]string{"load", "http://127.0.0.1:1/", "--max-in-flight", "1", "--concurrency", "4"}, "--max-in-flight: 1 is below concurrency 4"},
		{[]string{"load", "http://127.0.0.1:1/", "--method", "get"}, "--method: methods are case-sensitive"},
		{[]string{"load", "http://127.0.0.1:1/", "--header", "nocolon"}, "want 'Name: value'"},
		{[]string{"load", "http://127.0.0.1:1/", "--expect-status", "fine"}, "--expect-status: bad tolerance"},
		{[]string{"load", "http://127.0.0.1:1/", "--timeout", "0s"}, "--timeout: must be above zero"},
	} {
		r := e.faultline(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
}

// shopServer answers /browse and, with 503, /buy, counting the requests to
// each and the X-Shopper headers it sees.
type shopServer struct {
	*httptest.Server
	browse, buy atomic.Int64
	mu          sync.Mutex
	shoppers    map[string]int
}

func newShopServer(t *testing.T) *shopServer {
	t.Helper()
	s := &shopServer{shoppers: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.shoppers[r.Header.Get("X-Shopper")]++
		s.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/browse":
			s.browse.Add(1)
		case r.Method == http.MethodPost && r.URL.Path == "/buy" && string(body) == `{"sku": 1}`:
			s.buy.Add(1)
			http.Error(w, "busy", http.StatusServiceUnavailable)
		default:
			http.Error(w, "unexpected request", http.StatusBadRequest)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// scenario copies the fixture testdata/load/name into e's directory, with
// SERVER standing for addr, and returns its name there.
func scenario(t *testing.T, e *env, name, addr string) string {
	t.Helper()
	data, err := os.ReadFile(testdata(filepath.Join("load", name)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, name), bytes.ReplaceAll(data, []byte("SERVER"), []byte(addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// loadTargetFigures is what the JSON summary gives of a target.
type loadTargetFigures struct {
	Name         string           `json:"name"`
	Weight       int              `json:"weight"`
	Requests     int64            `json:"requests"`
	SuccessRatio float64          `json:"successRatio"`
	Status       map[string]int64 `json:"status"`
	Latency      map[string]int64 `json:"latency"`
}

func TestLoadScenario(t *testing.T) {
	cases := []struct {
		name     string
		fixture  string
		args     []string
		browse   int64
		buy      int64
		shoppers map[string]int
		// want, in the JSON summary
		concurrency int
		ratio       float64
		targets     func(url string) []loadTargetFigures
	}{
		{
			name: "weights 3:1 split exactly; --rate overrides the file", fixture: "browse-and-buy.yaml",
			args:   []string{"--rate", "100", "--duration", "400ms"},
			browse: 30, buy: 10, shoppers: map[string]int{"": 30, "scenario": 10},
			concurrency: 3, ratio: 0.75,
			targets: func(url string) []loadTargetFigures {
				return []loadTargetFigures{
					{Name: "browse", Weight: 3, Requests: 30, SuccessRatio: 1, Status: map[string]int64{"200": 30}},
					{Name: "POST " + url + "/buy", Weight: 1, Requests: 10, SuccessRatio: 0, Status: map[string]int64{"503": 10}},
				}
			},
		},
		{
			name: "--header overrides the file's and goes to every target", fixture: "browse-and-buy.yaml",
			args:   []string{"--rate", "100", "--duration", "200ms", "--concurrency", "2", "--header", "X-Shopper: flag"},
			browse: 15, buy: 5, shoppers: map[string]int{"flag": 20},
			concurrency: 2, ratio: 0.75,
			targets: func(url string) []loadTargetFigures {
				return []loadTargetFigures{
					{Name: "browse", Weight: 3, Requests: 15, SuccessRatio: 1, Status: map[string]int64{"200": 15}},
					{Name: "POST " + url + "/buy", Weight: 1, Requests: 5, SuccessRatio: 0, Status: map[string]int64{"503": 5}},
				}
			},
		},
		{
			name: "one url in JSON: the file's rate and expectStatus", fixture: "one-url.json",
			args: []string{"--duration", "300ms"},
			buy:  30, shoppers: map[string]int{"scenario": 30},
			concurrency: 1, ratio: 1,
			targets: func(string) []loadTargetFigures { return nil },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newShopServer(t)
			e := newEnv(t, nil)
			file := scenario(t, e, tc.fixture, strings.TrimPrefix(s.URL, "http://"))
			r := e.faultline(t, append([]string{"load", "--scenario", file, "--json"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			var got struct {
				Scenario     string              `json:"scenario"`
				Concurrency  int                 `json:"concurrency"`
				Requests     int64               `json:"requests"`
				SuccessRatio float64             `json:"successRatio"`
				Targets      []loadTargetFigures `json:"targets"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
			}
			if s.browse.Load() != tc.browse || s.buy.Load() != tc.buy {
				t.Errorf("the server got %d browse and %d buy requests, want %d and %d", s.browse.Load(), s.buy.Load(), tc.browse, tc.buy)
			}
			if !maps.Equal(s.shoppers, tc.shoppers) {
				t.Errorf("X-Shopper headers %v, want %v", s.shoppers, tc.shoppers)
			}
			if got.Scenario != file || got.Concurrency != tc.concurrency || got.Requests != tc.browse+tc.buy || got.SuccessRatio != tc.ratio {
				t.Errorf("summary %+v", got)
			}
			want := tc.targets(s.URL)
			if len(got.Targets) != len(want) {
				t.Fatalf("%d targets' figures, want %d:\n%s", len(got.Targets), len(want), r.stdout)
			}
			for i, w := range want {
				g := got.Targets[i]
				if g.Name != w.Name || g.Weight != w.Weight || g.Requests != w.Requests || g.SuccessRatio != w.SuccessRatio || !maps.Equal(g.Status, w.Status) {
					t.Errorf("target %d: %+v, want %+v", i, g, w)
				}
				if g.Latency["p50"] <= 0 || g.Latency["p90"] < g.Latency["p50"] || g.Latency["p99"] < g.Latency["p90"] || g.Latency["max"] < g.Latency["p99"] {
					t.Errorf("target %d: latency %v", i, g.Latency)
				}
			}
		})
	}
}

func TestLoadScenarioTextSummary(t *testing.T) {
	s := newShopServer(t)
	e := newEnv(t, nil)
	file := scenario(t, e, "browse-and-buy.yaml", strings.TrimPrefix(s.URL, "http://"))
	r := e.faultline(t, "load", "--scenario", file, "--rate", "100", "--duration", "200ms")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"2 targets from browse-and-buy.yaml — open model, 100/s for 200ms\n",
		"requests  20 in ",
		"\ntarget ",
		"\nbrowse  ",
		"\nPOST " + s.URL + "/buy  ",
		"  503 ×5\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the summary has no %q:\n%s", want, r.stdout)
		}
	}
}

func TestLoadScenarioErrors(t *testing.T) {
	cases := []struct {
		name    string
		fixture string
		args    []string
		want    []string // lines of stderr, each of them
	}{
		{"malformed: every problem at once", "malformed.yaml", nil, []string{
			"faultline: invalid scenario:",
			`malformed.yaml:3:5: targets[0].wieght: unknown field (did you mean "weight"?)`,
			`malformed.yaml:4:5: targets[1].url: required field is missing`,
			`malformed.yaml:5:7: rate: want a number, got "fast"`,
			`malformed.yaml:6:10: timeout: duration "2" has no unit: write 2s or 2ms`,
		}},
		{"invalid: every problem at once", "invalid.yaml", nil, []string{
			"faultline: invalid scenario:",
			`invalid.yaml:3:10: targets[1].url: "ftp://127.0.0.1:1/buy" is not an absolute http or https URL`,
			`invalid.yaml:4:13: targets[1].weight: 5000 is outside 1..1000`,
			`invalid.yaml:5:9: method: with targets, set method in each target`,
			`invalid.yaml:6:14: concurrency: must be at least 1`,
			`invalid.yaml:7:15: expectStatus: bad tolerance "fine"`,
		}},
		{"a flag the scenario's targets cannot take", "browse-and-buy.yaml", []string{"--method", "PUT"}, []string{
			"faultline: --method: with targets, set method in each target",
		}},
		{"a bad flag over a scenario", "browse-and-buy.yaml", []string{"--rate", "-1"}, []string{
			"faultline: --rate: -1 is outside",
		}},
		{"no such file", "", []string{"--scenario", "missing.yaml"}, []string{
			"faultline: read settings: open missing.yaml: no such file or directory",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			args := append([]string{"load", "--duration", "100ms"}, tc.args...)
			if tc.fixture != "" {
				args = append(args, "--scenario", scenario(t, e, tc.fixture, "127.0.0.1:1"))
			}
			r := e.faultline(t, args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (usage)", r.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr has no %q:\n%s", w, r.stderr)
				}
			}
			if n := strings.Count(r.stderr, "\n"); n != len(tc.want) {
				t.Errorf("%d lines of stderr, want %d:\n%s", n, len(tc.want), r.stderr)
			}
		})
	}
}

// TestLoadExampleScenario runs examples/load/shop-mix.yaml against a
// stand-in for the demo shop's frontend.
func TestLoadExampleScenario(t *testing.T) {
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/cart/items" && r.Header.Get("Content-Type") == "application/json" {
			posts.Add(1)
			w.WriteHeader(http.StatusCreated)
		}
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, nil)
	data, err := os.ReadFile("../../examples/load/shop-mix.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte("127.0.0.1:8180"), []byte(strings.TrimPrefix(srv.URL, "http://")))
	if err := os.WriteFile(filepath.Join(e.dir, "shop-mix.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.faultline(t, "load", "--scenario", "shop-mix.yaml", "--rate", "100", "--duration", "200ms", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var got struct {
		SuccessRatio float64             `json:"successRatio"`
		Targets      []loadTargetFigures `json:"targets"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	var names []string
	var requests []int64
	for _, tf := range got.Targets {
		names, requests = append(names, tf.Name), append(requests, tf.Requests)
	}
	if got.SuccessRatio != 1 || !slices.Equal(names, []string{"home", "items", "cart", "add to cart"}) || !slices.Equal(requests, []int64{8, 6, 4, 2}) || posts.Load() != 2 {
		t.Errorf("success %.2f, targets %v with %v requests, %d added to the cart", got.SuccessRatio, names, requests, posts.Load())
	}
}
