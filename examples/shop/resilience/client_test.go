package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline-dev/faultline/examples/shop/resilience"
)

const ms = resilience.Duration(time.Millisecond)

// dependency is a test server answering the statuses of codes in turn
// (the last one for ever after), or hanging until the test ends when
// hang is set.
type dependency struct {
	*httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	codes []int
	hang  chan struct{}
}

func newDependency(t *testing.T, codes ...int) *dependency {
	t.Helper()
	d := &dependency{codes: codes}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(d.hits.Add(1))
		d.mu.Lock()
		code, hang := d.codes[min(n, len(d.codes))-1], d.hang
		d.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":"answer %d"}`, n)
	}))
	t.Cleanup(d.Close)
	return d
}

// answer makes the dependency answer code from now on.
func (d *dependency) answer(code int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.codes = []int{code}
}

// freeze makes the dependency accept requests and never answer, until the
// test ends: what a SIGSTOPped process looks like to its callers.
func (d *dependency) freeze(t *testing.T) {
	hang := make(chan struct{})
	d.mu.Lock()
	d.hang = hang
	d.mu.Unlock()
	t.Cleanup(func() { close(hang) })
}

func newClient(t *testing.T, url string, e resilience.Edge) (*resilience.Client, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return resilience.NewClient("dep", url, e, resilience.NewMetrics(reg), log), reg
}

// value is the value of the metric name with labels (0 if absent).
func value(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

func get(c *resilience.Client) (int, error) {
	return c.Do(context.Background(), resilience.Request{Method: http.MethodGet, Path: "/"}, nil)
}

func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		codes      []int
		retries    int
		wantHits   int64
		wantStatus int // what resilience.Status answers, or the 2xx
		refused    bool
	}{
		{"success at once", []int{200}, 2, 1, 200, false},
		{"5xx then success", []int{503, 500, 200}, 2, 3, 200, false},
		{"429 is retried", []int{429, 201}, 1, 2, 201, false},
		{"retries run out", []int{503}, 2, 3, http.StatusBadGateway, false},
		{"a 4xx is not retried", []int{404, 200}, 2, 1, 404, true},
		{"507 (store full) is not retried", []int{507, 200}, 2, 1, 507, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDependency(t, tc.codes...)
			c, reg := newClient(t, d.URL, resilience.Edge{Retries: tc.retries, Backoff: 5 * ms, Jitter: 0.5})
			status, err := get(c)
			if err != nil {
				status = resilience.Status(err)
			}
			if status != tc.wantStatus || d.hits.Load() != tc.wantHits || resilience.Refused(err) != tc.refused {
				t.Errorf("status %d, hits %d, refused %v (%v); want %d, %d, %v", status, d.hits.Load(), resilience.Refused(err), err, tc.wantStatus, tc.wantHits, tc.refused)
			}
			if got := value(t, reg, "shop_client_retries_total", nil); got != float64(tc.wantHits-1) {
				t.Errorf("retries counted %g, want %d", got, tc.wantHits-1)
			}
		})
	}
}

func TestTimeoutBoundsEveryAttempt(t *testing.T) {
	d := newDependency(t, 200)
	d.freeze(t)
	c, reg := newClient(t, d.URL, resilience.Edge{Timeout: 100 * ms, Retries: 1, Backoff: 10 * ms})
	start := time.Now()
	_, err := get(c)
	took := time.Since(start)
	if !errors.Is(err, resilience.ErrTimeout) || resilience.Status(err) != http.StatusGatewayTimeout {
		t.Fatalf("err %v (status %d), want a timeout (504)", err, resilience.Status(err))
	}
	// Two attempts of 100ms and a 10ms pause; generous on a loaded machine.
	if took < 200*time.Millisecond || took > 2*time.Second {
		t.Errorf("the call took %s, want about 210ms", took)
	}
	if got := value(t, reg, "shop_client_attempts_total", map[string]string{"result": "timeout"}); got != 2 {
		t.Errorf("timed-out attempts counted %g, want 2", got)
	}
}

func TestWithoutTimeoutACallWaitsAsLongAsItsCaller(t *testing.T) {
	d := newDependency(t, 200)
	d.freeze(t)
	c, _ := newClient(t, d.URL, resilience.Edge{}) // profile off's checkout edges
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, resilience.Request{Method: http.MethodGet, Path: "/"}, nil)
	if err == nil || time.Since(start) < 500*time.Millisecond {
		t.Errorf("err %v after %s: the call should hang until its caller gives up", err, time.Since(start))
	}
}

func TestBreakerOpensThenHalfOpens(t *testing.T) {
	d := newDependency(t, 503)
	c, reg := newClient(t, d.URL, resilience.Edge{Breaker: resilience.Breaker{Failures: 3, OpenFor: 300 * ms}})
	state := func() float64 {
		return value(t, reg, "shop_client_breaker_state", map[string]string{"dependency": "dep"})
	}
	for range 3 {
		if _, err := get(c); resilience.Status(err) != http.StatusBadGateway {
			t.Fatalf("err %v, want the dependency's failure", err)
		}
	}
	if state() != 2 {
		t.Fatalf("breaker state %g after 3 failures, want 2 (open)", state())
	}
	_, err := get(c)
	if !errors.Is(err, resilience.ErrBreakerOpen) || resilience.Status(err) != http.StatusServiceUnavailable || d.hits.Load() != 3 {
		t.Fatalf("open breaker: err %v, hits %d; want ErrBreakerOpen (503) without a request", err, d.hits.Load())
	}
	if got := value(t, reg, "shop_client_calls_total", map[string]string{"outcome": "rejected"}); got != 1 {
		t.Errorf("rejected calls counted %g, want 1", got)
	}
	d.answer(200)
	deadline := time.Now().Add(3 * time.Second)
	for state() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("breaker state %g, want 1 (half-open) after openFor", state())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := get(c); err != nil {
		t.Fatalf("trial call: %v", err)
	}
	if state() != 0 {
		t.Errorf("breaker state %g after a successful trial, want 0 (closed)", state())
	}
}

func TestRefusalsDoNotTripTheBreaker(t *testing.T) {
	d := newDependency(t, 404)
	c, reg := newClient(t, d.URL, resilience.Edge{Breaker: resilience.Breaker{Failures: 2, OpenFor: resilience.Duration(time.Minute)}})
	for range 5 {
		get(c)
	}
	if got := value(t, reg, "shop_client_breaker_state", nil); got != 0 || d.hits.Load() != 5 {
		t.Errorf("breaker state %g and %d hits after 5 refusals, want 0 and 5", got, d.hits.Load())
	}
}

func TestFallback(t *testing.T) {
	d := newDependency(t, 503)
	refusing := newDependency(t, 400)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		fallback bool
		url      string
		ctx      context.Context
		want     bool
	}{
		{"unavailable, with a fallback", true, d.URL, context.Background(), true},
		{"unavailable, without", false, d.URL, context.Background(), false},
		{"refused: the caller passes it on", true, refusing.URL, context.Background(), false},
		{"the caller gave up", true, d.URL, canceled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, reg := newClient(t, tc.url, resilience.Edge{Fallback: tc.fallback})
			_, err := c.Do(tc.ctx, resilience.Request{Method: http.MethodGet, Path: "/"}, nil)
			if got := c.Fallback(err); got != tc.want {
				t.Errorf("Fallback(%v) = %v, want %v", err, got, tc.want)
			}
			want := 0.0
			if tc.want {
				want = 1
			}
			if got := value(t, reg, "shop_client_fallbacks_total", nil); got != want {
				t.Errorf("fallbacks counted %g, want %g", got, want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{&resilience.StatusError{Status: 404}, 404},
		{fmt.Errorf("carts: %w", &resilience.StatusError{Status: 507}), 507},
		{&resilience.StatusError{Status: 500}, 502},
		{fmt.Errorf("payment: %w: too many requests", resilience.ErrBreakerOpen), 503},
		{fmt.Errorf("payment: %w after 300ms", resilience.ErrTimeout), 504},
		{errors.New("connection refused"), 502},
	} {
		if got := resilience.Status(tc.err); got != tc.want {
			t.Errorf("Status(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestDoSendsJSONAndDecodesTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"got":%s,"type":%q,"key":%q}`, b, r.Header.Get("Content-Type"), r.Header.Get("Idempotency-Key"))
	}))
	defer srv.Close()
	c, _ := newClient(t, srv.URL, resilience.Edge{})
	var out struct {
		Got  map[string]int `json:"got"`
		Type string         `json:"type"`
		Key  string         `json:"key"`
	}
	status, err := c.Do(context.Background(), resilience.Request{
		Method: http.MethodPost, Path: "/x", Header: http.Header{"Idempotency-Key": {"k1"}}, Body: map[string]int{"n": 1},
	}, &out)
	if err != nil || status != http.StatusCreated || out.Got["n"] != 1 || out.Type != "application/json" || out.Key != "k1" {
		t.Errorf("status %d, err %v, answer %+v", status, err, out)
	}
}
