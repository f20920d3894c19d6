package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline-dev/faultline/examples/shop/metrics"
)

func TestRoutesAreCountedByPatternMethodAndCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	mux := metrics.NewMux(reg)
	mux.Handle("GET /api/items/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "missing":
			w.WriteHeader(http.StatusNotFound)
		case "broken":
			http.Error(w, "store down", http.StatusInternalServerError)
		default:
			w.Write([]byte("ok")) // an implicit 200
		}
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, id := range []string{"a", "b", "missing", "broken"} {
		resp, err := http.Get(srv.URL + "/api/items/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{} // name{code} → counter, gauge or histogram count
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() != "/api/items/{id}" || l.GetName() == "method" && l.GetValue() != "GET" {
					t.Errorf("%s: label %s=%q", key, l.GetName(), l.GetValue())
				}
				if l.GetName() == "code" {
					key += "{" + l.GetValue() + "}"
				}
			}
			got[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	for _, tc := range []struct {
		key  string
		want float64
	}{
		{"shop_http_requests_total{200}", 2},
		{"shop_http_requests_total{404}", 1},
		{"shop_http_requests_total{500}", 1},
		{"shop_http_request_errors_total{500}", 1},
		{"shop_http_request_errors_total{404}", 0},
		{"shop_http_request_duration_seconds{200}", 2},
		{"shop_http_request_duration_seconds{500}", 1},
		{"shop_http_requests_in_flight", 0},
	} {
		if got[tc.key] != tc.want {
			t.Errorf("%s = %g, want %g", tc.key, got[tc.key], tc.want)
		}
	}
}
