// Package telemetry exposes a running faultline as Prometheus metrics:
// which faults are in place, how the checks fare, which phase the run is in
// and its verdict, so a Grafana board can show a run as it happens.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faultline-dev/faultline/journal"
)

// Metrics is an engine observer that keeps faultline's metrics.
type Metrics struct {
	reg        *prometheus.Registry
	experiment string

	phase         *prometheus.GaugeVec
	active        *prometheus.GaugeVec
	injected      *prometheus.CounterVec
	recovered     *prometheus.CounterVec
	recoverFailed *prometheus.CounterVec
	samples       *prometheus.CounterVec
	checkOK       *prometheus.GaugeVec
	checkValue    *prometheus.GaugeVec
	verdict       *prometheus.GaugeVec
	stops         prometheus.Counter
}

// New makes the metrics of one run of experiment.
func New(experiment string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), experiment: experiment}
	labels := prometheus.Labels{"experiment": experiment}
	m.phase = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "faultline_run_phase", Help: "1 for the phase the run is in (pre-check, method, recovery, post-check).", ConstLabels: labels}, []string{"phase"})
	m.active = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "faultline_faults_active", Help: "Faults in place now, by kind.", ConstLabels: labels}, []string{"kind"})
	m.injected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faultline_faults_injected_total", Help: "Faults applied, by kind.", ConstLabels: labels}, []string{"kind"})
	m.recovered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faultline_faults_recovered_total", Help: "Faults recovered, by kind.", ConstLabels: labels}, []string{"kind"})
	m.recoverFailed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faultline_faults_recover_failed_total", Help: "Failed recovery attempts, by kind: faults that may still be in place.", ConstLabels: labels}, []string{"kind"})
	m.samples = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faultline_check_samples_total", Help: "Check samples by check, kind (hypothesis or stop), phase and result.", ConstLabels: labels}, []string{"check", "kind", "phase", "result"})
	m.checkOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "faultline_check_ok", Help: "1 when the check's latest sample held, else 0.", ConstLabels: labels}, []string{"check", "kind"})
	m.checkValue = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "faultline_check_value", Help: "The latest value of the check's plotted measure (seconds for durations).", ConstLabels: labels}, []string{"check", "kind", "measure"})
	m.verdict = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "faultline_run_verdict", Help: "1 for the run's verdict once it is known (held, deviated, aborted).", ConstLabels: labels}, []string{"status"})
	m.stops = prometheus.NewCounter(prometheus.CounterOpts{Name: "faultline_stop_conditions_total", Help: "Stop conditions that aborted the run.", ConstLabels: labels})
	m.reg.MustRegister(m.phase, m.active, m.injected, m.recovered, m.recoverFailed, m.samples, m.checkOK, m.checkValue, m.verdict, m.stops,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Event implements engine.Observer.
func (m *Metrics) Event(e journal.Event) {
	switch e.Type {
	case journal.PhaseStarted:
		m.phase.Reset()
		m.phase.WithLabelValues(e.Phase).Set(1)
	case journal.Injected:
		m.active.WithLabelValues(e.Fault).Inc()
		m.injected.WithLabelValues(e.Fault).Inc()
	case journal.Recovered:
		m.active.WithLabelValues(e.Fault).Dec()
		m.recovered.WithLabelValues(e.Fault).Inc()
	case journal.RecoverFailed:
		m.recoverFailed.WithLabelValues(e.Fault).Inc()
	case journal.StopCondition:
		m.stops.Inc()
	case journal.Verdict:
		m.phase.Reset()
		status, _, _ := strings.Cut(e.Message, ":")
		m.verdict.WithLabelValues(status).Set(1)
	}
}

// Sample implements engine.Observer.
func (m *Metrics) Sample(s *journal.Series, smp journal.Sample) {
	result, ok := "fail", 0.0
	if smp.OK {
		result, ok = "ok", 1
	}
	m.samples.WithLabelValues(s.Check, s.Kind, smp.Phase, result).Inc()
	m.checkOK.WithLabelValues(s.Check, s.Kind).Set(ok)
	if smp.Value != nil {
		m.checkValue.WithLabelValues(s.Check, s.Kind, s.Measure).Set(*smp.Value)
	}
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Serve serves /metrics on addr in the background and returns the address
// bound (addr may ask for port 0) and a function that stops the server.
func (m *Metrics) Serve(addr string, log *slog.Logger) (string, func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", "err", err)
		}
	}()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	return l.Addr().String(), stop, nil
}
