// Package metrics instruments a demo shop service's HTTP routes for
// Prometheus: requests, errors and latency by route, method and status,
// and the requests in flight (which is where a hang shows first).
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Mux is an http.ServeMux whose every route is instrumented.
type Mux struct {
	mux      *http.ServeMux
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// NewMux returns an empty Mux whose metrics are registered on reg.
func NewMux(reg prometheus.Registerer) *Mux {
	labels := []string{"route", "method", "code"}
	m := &Mux{
		mux: http.NewServeMux(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_http_requests_total",
			Help: "HTTP requests served, by route, method and status code.",
		}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_http_request_errors_total",
			Help: "HTTP requests answered with a 5xx status, by route, method and status code.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shop_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route, method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, labels),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shop_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
	}
	reg.MustRegister(m.requests, m.errors, m.duration, m.inFlight)
	return m
}

// Handle registers h for pattern (http.ServeMux syntax, e.g.
// "GET /api/items/{id}"); its requests are labelled with the pattern's
// path as route.
func (m *Mux) Handle(pattern string, h http.Handler) {
	route := pattern
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		route = pattern[i+1:]
	}
	m.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		h.ServeHTTP(rec, r)
		code := strconv.Itoa(rec.code)
		m.requests.WithLabelValues(route, r.Method, code).Inc()
		m.duration.WithLabelValues(route, r.Method, code).Observe(time.Since(start).Seconds())
		if rec.code >= 500 {
			m.errors.WithLabelValues(route, r.Method, code).Inc()
		}
	}))
}

// ServeHTTP serves r with the route that matches it.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.inFlight.Inc()
	defer m.inFlight.Dec()
	m.mux.ServeHTTP(w, r)
}

// recorder remembers the status a handler answered with.
type recorder struct {
	http.ResponseWriter
	code    int
	written bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.written {
		r.code, r.written = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.written = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
