package load_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/load"
)

// server is a loopback HTTP server for one test that counts what it sees
// and can be told to stall.
type server struct {
	*httptest.Server
	requests    atomic.Int64
	conns       atomic.Int64 // connections accepted
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	stallUntil  atomic.Int64 // Unix nanoseconds
	paths       [3]atomic.Int64
}

// newServer serves h (nil: a short 200) on 127.0.0.1, its http.Server
// set up by configure.
func newServer(t *testing.T, h http.HandlerFunc, configure ...func(*http.Server)) *server {
	t.Helper()
	s := &server{}
	if h == nil {
		h = func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for m := s.maxInFlight.Load(); n > m && !s.maxInFlight.CompareAndSwap(m, n); m = s.maxInFlight.Load() {
		}
		if d := time.Until(time.Unix(0, s.stallUntil.Load())); d > 0 {
			time.Sleep(d)
		}
		for i, p := range []string{"/a", "/b", "/c"} {
			if r.URL.Path == p {
				s.paths[i].Add(1)
			}
		}
		h(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	for _, c := range configure {
		c(s.Config)
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// stallAt makes every request arriving between after and after+d (from
// now) wait until after+d.
func (s *server) stallAt(after, d time.Duration) {
	time.AfterFunc(after, func() { s.stallUntil.Store(time.Now().Add(d).UnixNano()) })
}

// run makes a generator of cfg and runs it to the end, bounded by a
// generous deadline.
func run(t *testing.T, cfg load.Config) load.Stats {
	t.Helper()
	g, err := load.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return g.Run(ctx)
}

func targets(urls ...string) []load.Target {
	var ts []load.Target
	for _, u := range urls {
		ts = append(ts, load.Target{URL: u})
	}
	return ts
}

func TestOpenModelKeepsTheRate(t *testing.T) {
	s := newServer(t, nil)
	start := time.Now()
	st := run(t, load.Config{Targets: targets(s.URL), Rate: 200, Duration: time.Second})
	took := time.Since(start)
	if st.Requests < 190 || st.Requests > 210 {
		t.Errorf("%d requests at 200/s over 1s, want 190-210", st.Requests)
	}
	if got := s.requests.Load(); got != st.Requests {
		t.Errorf("the server saw %d requests, the generator counted %d", got, st.Requests)
	}
	if st.Rate < 170 || st.Rate > 230 {
		t.Errorf("rate %.1f/s, want about 200", st.Rate)
	}
	if took > 2*time.Second {
		t.Errorf("a 1s run took %s", took)
	}
	if st.SuccessRatio != 1 || st.Status[200] != st.Requests || len(st.Errors) > 0 {
		t.Errorf("not every request succeeded: %s", st.Describe())
	}
}

func TestClosedModelKeepsConcurrencyInFlight(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request) { time.Sleep(10 * time.Millisecond) })
	st := run(t, load.Config{Targets: targets(s.URL), Concurrency: 4, Duration: 300 * time.Millisecond})
	if got := s.maxInFlight.Load(); got != 4 {
		t.Errorf("at most %d requests in flight at the server, want 4", got)
	}
	if got := s.conns.Load(); got != 4 {
		t.Errorf("%d connections for 4 workers", got)
	}
	// 4 workers × 300ms / 10ms = 120 at best.
	if st.Requests < 40 || st.Requests > 125 {
		t.Errorf("%d requests, want 40-125", st.Requests)
	}
	if st.Latency.P50 < 10*time.Millisecond {
		t.Errorf("p50 %s below the server's 10ms", st.Latency.P50)
	}
}

func TestWeightedTargets(t *testing.T) {
	s := newServer(t, nil)
	st := run(t, load.Config{
		Targets:     []load.Target{{URL: s.URL + "/a", Weight: 6}, {URL: s.URL + "/b", Weight: 3}, {URL: s.URL + "/c"}},
		Concurrency: 2,
		Duration:    300 * time.Millisecond,
	})
	a, b, c := s.paths[0].Load(), s.paths[1].Load(), s.paths[2].Load()
	if a+b+c != st.Requests || st.Requests < 50 {
		t.Fatalf("paths %d+%d+%d, requests %d", a, b, c, st.Requests)
	}
	// The order is exact over each cycle of 10: only the last cycle,
	// cut short, may differ.
	for _, p := range []struct {
		name      string
		got, want float64
	}{{"/a", float64(a), 0.6}, {"/b", float64(b), 0.3}, {"/c", float64(c), 0.1}} {
		if share := p.got / float64(st.Requests); share < p.want-10/float64(st.Requests) || share > p.want+10/float64(st.Requests) {
			t.Errorf("%s got %.3f of %d requests, want %.1f", p.name, share, st.Requests, p.want)
		}
	}
}

func TestStatusesAndSuccessRatio(t *testing.T) {
	var n atomic.Int64
	failEvery4th := func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%4 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}
	cases := []struct {
		name    string
		success func(int) bool
		ratio   float64
	}{
		{"2xx and 3xx by default", nil, 0.75},
		{"503 expected too", func(code int) bool { return code == 200 || code == 503 }, 1},
		{"only 503 expected", func(code int) bool { return code == 503 }, 0.25},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n.Store(0)
			s := newServer(t, failEvery4th)
			st := run(t, load.Config{Targets: targets(s.URL), Concurrency: 1, Duration: 200 * time.Millisecond, Success: tc.success})
			if st.Requests < 20 {
				t.Fatalf("only %d requests", st.Requests)
			}
			if st.Status[503] != st.Requests/4 || st.Status[200]+st.Status[503] != st.Requests {
				t.Errorf("statuses %v for %d requests, want a quarter 503", st.Status, st.Requests)
			}
			if d := st.SuccessRatio - tc.ratio; d < -0.02 || d > 0.02 {
				t.Errorf("success ratio %.3f, want %.2f", st.SuccessRatio, tc.ratio)
			}
			if st.ErrorCount() != 0 {
				t.Errorf("errors %v: an error status is an answer, not an error", st.Errors)
			}
		})
	}
}

func TestConnectionsAreKeptAlive(t *testing.T) {
	t.Run("open model", func(t *testing.T) {
		s := newServer(t, nil)
		st := run(t, load.Config{Targets: targets(s.URL), Rate: 200, Duration: 500 * time.Millisecond})
		// A worker and its connection serve request after request; a
		// hiccup of the machine may add a few.
		if got := s.conns.Load(); got > 10 {
			t.Errorf("%d connections for %d requests", got, st.Requests)
		}
	})
	t.Run("server closes every 10th", func(t *testing.T) {
		var n atomic.Int64
		s := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			if n.Add(1)%10 == 0 {
				w.Header().Set("Connection", "close")
			}
		})
		st := run(t, load.Config{Targets: targets(s.URL), Concurrency: 1, Duration: 200 * time.Millisecond})
		if want := (st.Requests + 9) / 10; s.conns.Load() != want {
			t.Errorf("%d connections for %d requests, want %d", s.conns.Load(), st.Requests, want)
		}
		if st.ErrorCount() != 0 {
			t.Errorf("errors: %v", st.ErrorExamples)
		}
	})
	t.Run("server drops idle connections", func(t *testing.T) {
		s := newServer(t, nil, func(hs *http.Server) { hs.IdleTimeout = 20 * time.Millisecond })
		st := run(t, load.Config{Targets: targets(s.URL), Rate: 20, Duration: 500 * time.Millisecond})
		// Every request finds its connection closed while idle, and is
		// sent again on a new one: no error.
		if st.ErrorCount() != 0 || st.Requests != 10 {
			t.Errorf("%s; errors %v", st.Describe(), st.ErrorExamples)
		}
	})
}

// TestCoordinatedOmission stalls the server for 500ms once. The open model
// keeps sending on schedule, so every request due during the stall waits
// and p99 shows it; a closed-model worker waits once and then sends many
// fast requests, so its percentiles hide the stall.
func TestCoordinatedOmission(t *testing.T) {
	const stall = 500 * time.Millisecond
	t.Run("open model shows the stall", func(t *testing.T) {
		s := newServer(t, nil)
		s.stallAt(300*time.Millisecond, stall)
		st := run(t, load.Config{Targets: targets(s.URL), Rate: 100, Duration: 1500 * time.Millisecond})
		if st.Latency.P99 < 400*time.Millisecond {
			t.Errorf("p99 %s after a %s stall; want at least 400ms (%s)", st.Latency.P99, stall, st.Describe())
		}
		if st.Latency.P90 < 100*time.Millisecond {
			t.Errorf("p90 %s: about a third of the requests were due during the stall", st.Latency.P90)
		}
	})
	t.Run("closed model hides it", func(t *testing.T) {
		s := newServer(t, nil)
		s.stallAt(300*time.Millisecond, stall)
		st := run(t, load.Config{Targets: targets(s.URL), Concurrency: 1, Duration: 1500 * time.Millisecond})
		if st.Latency.Max < 400*time.Millisecond {
			t.Fatalf("max %s: the stall was not seen at all", st.Latency.Max)
		}
		if st.Latency.P99 > 100*time.Millisecond {
			t.Errorf("closed-model p99 %s; the naive measure was expected to hide the stall (%s)", st.Latency.P99, st.Describe())
		}
	})
}

// TestWaitingForAWorkerCountsFromTheDueTime caps the workers at one: the
// requests due during a stall cannot be sent until it ends, and their
// latency counts from when they were due.
func TestWaitingForAWorkerCountsFromTheDueTime(t *testing.T) {
	s := newServer(t, nil)
	s.stallAt(200*time.Millisecond, 300*time.Millisecond)
	st := run(t, load.Config{Targets: targets(s.URL), Rate: 100, MaxInFlight: 1, Duration: time.Second})
	if got := s.maxInFlight.Load(); got != 1 {
		t.Errorf("%d requests in flight at once, want 1", got)
	}
	if st.Requests < 95 || st.ErrorCount() != 0 {
		t.Errorf("%s; want 100 requests and no error", st.Describe())
	}
	if st.Latency.P99 < 250*time.Millisecond {
		t.Errorf("p99 %s, want at least 250ms: the queued requests' wait counts", st.Latency.P99)
	}
}

// TestTimeoutCountsFromTheDueTime caps the workers at one and stalls the
// server past the timeout: the requests due during the stall wait for the
// worker, and fail as timeouts counted from when they were due.
func TestTimeoutCountsFromTheDueTime(t *testing.T) {
	s := newServer(t, nil)
	s.stallAt(100*time.Millisecond, 500*time.Millisecond)
	st := run(t, load.Config{Targets: targets(s.URL), Rate: 100, MaxInFlight: 1, Timeout: 100 * time.Millisecond, Duration: 800 * time.Millisecond})
	if st.Errors["timeout"] < 30 || st.Requests < 75 {
		t.Errorf("%s: want 80 requests, of which about 50 timed out", st.Describe())
	}
	if st.Latency.P99 < 95*time.Millisecond || st.Latency.Max > 200*time.Millisecond {
		t.Errorf("latency %+v: timeouts count as the time they waited, up to the timeout", st.Latency)
	}
}

func TestCancelStopsAtOnceAndCountsNothingCutShort(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, func(http.ResponseWriter, *http.Request) { <-release })
	t.Cleanup(func() { close(release) }) // before the server closes
	for _, cfg := range []load.Config{
		{Targets: targets(s.URL), Rate: 50},
		{Targets: targets(s.URL), Concurrency: 3},
	} {
		g, err := load.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		st := g.Run(ctx)
		cancel()
		if took := time.Since(start); took > time.Second {
			t.Errorf("rate %g: Run took %s after its context ended at 200ms", cfg.Rate, took)
		}
		if st.Requests != 0 || st.InFlight != 0 {
			t.Errorf("rate %g: interrupted requests were counted: %s %v", cfg.Rate, st.Describe(), st.ErrorExamples)
		}
	}
}

func TestErrorsByKind(t *testing.T) {
	listen := func(t *testing.T, serve func(net.Conn)) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go serve(c)
			}
		}()
		return "http://" + l.Addr().String() + "/"
	}
	readRequest := func(c net.Conn) { c.Read(make([]byte, 4096)) }
	refused := func(t *testing.T) string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		l.Close()
		return "http://" + l.Addr().String() + "/"
	}
	cases := []struct {
		name, kind string
		url        func(t *testing.T) string
	}{
		{"nothing listens", "refused", refused},
		{"closed without an answer", "closed", func(t *testing.T) string {
			return listen(t, func(c net.Conn) { readRequest(c); c.Close() })
		}},
		{"not HTTP", "protocol", func(t *testing.T) string {
			return listen(t, func(c net.Conn) { readRequest(c); io.WriteString(c, "220 smtp ready\r\n"); c.Close() })
		}},
		{"no answer in time", "timeout", func(t *testing.T) string {
			return listen(t, func(c net.Conn) { readRequest(c); time.Sleep(200 * time.Millisecond); c.Close() })
		}},
		{"reset", "reset", func(t *testing.T) string {
			return listen(t, func(c net.Conn) {
				readRequest(c)
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := run(t, load.Config{Targets: targets(tc.url(t)), Concurrency: 1, Timeout: 50 * time.Millisecond, Duration: 100 * time.Millisecond})
			// A loaded machine may turn the odd one into a timeout.
			if st.Requests == 0 || st.ErrorCount() != st.Requests || st.Errors[tc.kind] < st.Requests*9/10 {
				t.Errorf("errors %v of %d requests, want all %s (%v)", st.Errors, st.Requests, tc.kind, st.ErrorExamples)
			}
			if st.ErrorExamples[tc.kind] == "" {
				t.Errorf("no example of %s", tc.kind)
			}
			if st.SuccessRatio != 0 {
				t.Errorf("success ratio %g", st.SuccessRatio)
			}
		})
	}
}

func TestRequestsCarryMethodHeadersAndBody(t *testing.T) {
	var good atomic.Int64
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPut && r.Header.Get("X-Trace") == "abc" && r.Header.Get("Content-Type") == "application/json" &&
			string(body) == `{"n":1}` && r.Host == "shop.test" && r.URL.RawQuery == "q=1" {
			good.Add(1)
		}
		w.WriteHeader(http.StatusCreated)
	})
	st := run(t, load.Config{
		Targets: []load.Target{{
			URL: s.URL + "/items?q=1", Method: http.MethodPut, Body: `{"n":1}`,
			Headers: http.Header{"X-Trace": {"abc"}, "Content-Type": {"application/json"}, "Host": {"shop.test"}},
		}},
		Concurrency: 1, Duration: 100 * time.Millisecond,
	})
	if st.Requests == 0 || good.Load() != st.Requests || st.Status[201] != st.Requests {
		t.Errorf("%d of %d requests arrived as sent; %s", good.Load(), st.Requests, st.Describe())
	}
}

// TestLargeBody: a body larger than the socket's buffer cannot be written
// at once; the rest is written after the first part.
func TestLargeBody(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 1<<18) // 4 MiB
	var good atomic.Int64
	s := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); string(b) == body {
			good.Add(1)
		}
	})
	st := run(t, load.Config{
		Targets:     []load.Target{{URL: s.URL, Method: http.MethodPost, Body: body}},
		Concurrency: 1, Duration: 300 * time.Millisecond,
	})
	if st.Requests < 2 || good.Load() != st.Requests || st.OK != st.Requests {
		t.Errorf("%d of %d bodies arrived whole; %s %v", good.Load(), st.Requests, st.Describe(), st.ErrorExamples)
	}
}

func TestHTTPS(t *testing.T) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted handshakes
	s.StartTLS()
	t.Cleanup(s.Close)
	roots := x509.NewCertPool()
	roots.AddCert(s.Certificate())
	st := run(t, load.Config{Targets: targets(s.URL), Concurrency: 2, Duration: 100 * time.Millisecond, TLS: &tls.Config{RootCAs: roots}})
	if st.Requests == 0 || st.SuccessRatio != 1 {
		t.Errorf("trusted: %s %v", st.Describe(), st.ErrorExamples)
	}
	st = run(t, load.Config{Targets: targets(s.URL), Concurrency: 1, Duration: 50 * time.Millisecond})
	if st.Requests == 0 || st.Errors["tls"] != st.Requests {
		t.Errorf("untrusted certificate: %s %v", st.Describe(), st.ErrorExamples)
	}
}

// TestRecentIsTheLastWindow turns a healthy server into a failing one
// during a run: the window sees only the failures, the totals see both.
func TestRecentIsTheLastWindow(t *testing.T) {
	var failing atomic.Bool
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	g, err := load.New(load.Config{Targets: targets(s.URL), Rate: 200, Window: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan load.Stats)
	go func() { done <- g.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	if r := g.Recent(); r.SuccessRatio != 1 || r.Requests < 20 {
		t.Errorf("healthy window: %s", r.Describe())
	}
	failing.Store(true)
	time.Sleep(300 * time.Millisecond)
	recent, total := g.Recent(), g.Total()
	cancel()
	<-done
	if recent.SuccessRatio != 0 || recent.Requests < 20 || recent.Requests > 60 {
		t.Errorf("window after 300ms of failures: %s", recent.Describe())
	}
	if recent.Duration < 200*time.Millisecond || recent.Duration > 220*time.Millisecond {
		t.Errorf("window spans %s, want 200-220ms", recent.Duration)
	}
	if total.SuccessRatio < 0.3 || total.SuccessRatio > 0.7 {
		t.Errorf("totals: %s", total.Describe())
	}
}

func TestEachTargetsFigures(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/b" {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	})
	type want struct {
		name     string
		weight   int
		requests int64
		status   map[int]int64
		ratio    float64
	}
	cases := []struct {
		name    string
		targets []load.Target
		want    []want // nil: no figures by target
	}{
		{"one target: the totals alone", []load.Target{{URL: s.URL + "/a"}}, nil},
		{"weights 3:1", []load.Target{{URL: s.URL + "/a", Weight: 3}, {Name: "busy", URL: s.URL + "/b", Method: http.MethodPost}}, []want{
			{"GET " + s.URL + "/a", 3, 30, map[int]int64{200: 30}, 1},
			{"busy", 1, 10, map[int]int64{503: 10}, 0},
		}},
		{"equal weights", targets(s.URL+"/a", s.URL+"/b"), []want{
			{"GET " + s.URL + "/a", 1, 20, map[int]int64{200: 20}, 1},
			{"GET " + s.URL + "/b", 1, 20, map[int]int64{503: 20}, 0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// 40 requests on schedule: whole cycles of every weighting.
			st := run(t, load.Config{Targets: tc.targets, Rate: 200, Duration: 200 * time.Millisecond})
			if st.Requests != 40 {
				t.Fatalf("%d requests, want 40", st.Requests)
			}
			if len(st.Targets) != len(tc.want) {
				t.Fatalf("%d targets' figures, want %d: %+v", len(st.Targets), len(tc.want), st.Targets)
			}
			var text strings.Builder
			if err := st.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				got := st.Targets[i]
				if got.Name != w.name || got.Weight != w.weight || got.Requests != w.requests || got.SuccessRatio != w.ratio || !maps.Equal(got.Status, w.status) {
					t.Errorf("target %d: %+v, want %+v", i, got, w)
				}
				if got.Latency.P50 <= 0 || got.Latency.P99 < got.Latency.P50 || got.Latency.Max < got.Latency.P99 || got.Rate <= 0 {
					t.Errorf("target %d: latency %+v, rate %.1f", i, got.Latency, got.Rate)
				}
				if !strings.Contains(text.String(), "\n"+w.name+" ") {
					t.Errorf("the text has no line for %s:\n%s", w.name, text.String())
				}
			}
			if tc.want == nil && strings.Contains(text.String(), "target") {
				t.Errorf("a table of targets for one target:\n%s", text.String())
			}
		})
	}
}
