package probe_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faultline-dev/faultline/internal/promtest"
)

// TestPrometheus queries a real Prometheus server scraping a real
// exporter: two error-rate gauges of 0.01 and 0.2, and a health gauge of 1.
func TestPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	errs := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shop_error_ratio"}, []string{"service"})
	errs.WithLabelValues("carts").Set(0.01)
	errs.WithLabelValues("orders").Set(0.2)
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "shop_healthy"})
	up.Set(1)
	reg.MustRegister(errs, up)
	exporter := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(exporter.Close)

	url := promtest.Start(t, strings.TrimPrefix(exporter.URL, "http://"))
	promtest.WaitFor(t, url, "shop_healthy")
	check := func(query, expect string) string {
		return `{prometheus: {url: "` + url + `", query: '` + query + `'}, expect: ` + expect + `}`
	}
	runFlow(t, []flowCase{
		{"one sample holds", check("shop_healthy", "{value: 1}"), true, ""},
		{"scalar", check("scalar(shop_healthy) * 2", "{value: 2}"), true, ""},
		{"an aggregate", check("max(shop_error_ratio)", `{value: "< 0.5"}`), true, ""},
		{"every sample of a vector must match", check("shop_error_ratio", `{value: "< 0.1"}`), false, "want < 0.1"},
		{"every sample of a vector matches", check("shop_error_ratio", `{value: "< 0.5", count: 2}`), true, ""},
		{"count of a filtered vector", check("shop_error_ratio > 0.1", "{count: 1}"), true, ""},
		{"an empty vector has a count of 0", check("shop_error_ratio > 5", "{count: 0}"), true, ""},
		{"an empty vector has no value", check("shop_error_ratio > 5", "{value: 0}"), false, "value: not measured"},
		{"a bad query is explained", check("sum(", "{value: 0}"), false, "the query is invalid"},
		{"a range vector is refused", check("shop_healthy[1m]", "{value: 1}"), false, "matrix"},
	})
	t.Run("unreachable server", func(t *testing.T) {
		s := runCheck(t, `{prometheus: {url: "http://127.0.0.1:1", query: "up", timeout: 500ms}, expect: {value: 1}}`)
		if s.OK || !strings.Contains(s.Err, "connection refused") {
			t.Errorf("sample %+v: want a failure saying the connection was refused", s)
		}
	})
}

func TestPrometheusInvalid(t *testing.T) {
	runInvalid(t, []invalidCase{
		{"no url", `{prometheus: {query: up}, expect: {value: 1}}`, []string{"prometheus.url", "required field is missing"}},
		{"not http", `{prometheus: {url: "localhost:9090", query: up}, expect: {value: 1}}`, []string{"prometheus.url", "http(s) address"}},
		{"empty query", `{prometheus: {url: "http://127.0.0.1:9090", query: " "}, expect: {value: 1}}`, []string{"prometheus.query", "PromQL"}},
		{"unknown measure", `{prometheus: {url: "http://127.0.0.1:9090", query: up}, expect: {status: 200}}`, []string{"expect.status", "does not measure"}},
	})
}
