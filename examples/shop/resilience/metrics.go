package resilience

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the outgoing-call metrics of one service, labelled by the
// dependency called. Every Client of a service shares them.
type Metrics struct {
	reg       prometheus.Registerer
	calls     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	attempts  *prometheus.CounterVec
	retries   *prometheus.CounterVec
	fallbacks *prometheus.CounterVec
}

// NewMetrics registers the outgoing-call metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_client_calls_total",
			Help: "Calls to a dependency, retries included in one call, by outcome: success, refused (the dependency answered 4xx or 507), failure, rejected (breaker open), canceled.",
		}, []string{"dependency", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shop_client_call_duration_seconds",
			Help:    "Duration of calls to a dependency, retries and backoff included, by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"dependency", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_client_attempts_total",
			Help: "Requests sent to a dependency (each retry is one more), by result: success, refused (4xx, 507), server_error (other 5xx, 429), timeout, error, canceled (the caller gave up).",
		}, []string{"dependency", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_client_retries_total",
			Help: "Retries of calls to a dependency.",
		}, []string{"dependency"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_client_fallbacks_total",
			Help: "Calls to a dependency whose failure the caller answered with its fallback.",
		}, []string{"dependency"}),
	}
	reg.MustRegister(m.calls, m.duration, m.attempts, m.retries, m.fallbacks)
	return m
}

// breakerState exports a breaker's state (0 closed, 1 half-open, 2 open),
// read at scrape time so that an open breaker's move to half-open shows.
func (m *Metrics) breakerState(dependency string, state func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "shop_client_breaker_state",
		Help:        "State of the circuit breaker in front of a dependency: 0 closed, 1 half-open, 2 open. Absent when the edge has no breaker.",
		ConstLabels: prometheus.Labels{"dependency": dependency},
	}, state))
}
