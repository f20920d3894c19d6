package probe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/expect"
	"github.com/faultline-dev/faultline/experiment"
)

// PrometheusParams are the settings of the prometheus probe: a PromQL
// instant query against a Prometheus HTTP API, the way AWS FIS stops on an
// alarm.
type PrometheusParams struct {
	// URL is the Prometheus server, e.g. http://127.0.0.1:9090.
	URL     string              `yaml:"url" json:"url" required:"true"`
	Query   string              `yaml:"query" json:"query" required:"true"`
	Timeout experiment.Duration `yaml:"timeout" json:"timeout,omitempty"`
	Headers map[string]string   `yaml:"headers" json:"headers,omitempty"`

	api *sharedPromAPI
}

type sharedPromAPI struct {
	once sync.Once
	api  promv1.API
	err  error
}

func init() {
	Define(Def[PrometheusParams]{
		Name:    "prometheus",
		Summary: "runs a PromQL instant query and measures its value (every sample of a vector must match) and the vector's sample count",
		Measures: map[string]expect.Kind{
			"value":   expect.Number,
			"count":   expect.Number,
			"latency": expect.Duration,
		},
		Primary: "value",
		Defaults: func() PrometheusParams {
			return PrometheusParams{Timeout: experiment.Duration(5 * time.Second), api: &sharedPromAPI{}}
		},
		Measure: measurePrometheus,
	})
}

// Validate implements experiment.Validator.
func (p *PrometheusParams) Validate() error {
	var errs []error
	if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, experiment.FieldErrorf("url", "%q is not the http(s) address of a Prometheus server, such as http://127.0.0.1:9090", p.URL))
	}
	if strings.TrimSpace(p.Query) == "" {
		errs = append(errs, experiment.FieldErrorf("query", "give a PromQL query, such as sum(rate(http_requests_total{code=~\"5..\"}[1m]))"))
	}
	if p.Timeout <= 0 {
		errs = append(errs, experiment.FieldErrorf("timeout", "must be above zero"))
	}
	return errors.Join(errs...)
}

// headerRoundTripper adds fixed headers (authentication) to every request.
type headerRoundTripper struct {
	headers map[string]string
	next    http.RoundTripper
}

func (h headerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	return h.next.RoundTrip(r)
}

func (p *PrometheusParams) client() (promv1.API, error) {
	build := func() (promv1.API, error) {
		var rt http.RoundTripper = &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
		if len(p.Headers) > 0 {
			rt = headerRoundTripper{headers: p.Headers, next: rt}
		}
		c, err := api.NewClient(api.Config{Address: p.URL, RoundTripper: rt})
		if err != nil {
			return nil, fmt.Errorf("prometheus client for %s: %w", p.URL, err)
		}
		return promv1.NewAPI(c), nil
	}
	if p.api == nil {
		return build()
	}
	p.api.once.Do(func() { p.api.api, p.api.err = build() })
	return p.api.api, p.api.err
}

func measurePrometheus(parent context.Context, p *PrometheusParams) Measurement {
	what := fmt.Sprintf("query %q at %s", p.Query, p.URL)
	c, err := p.client()
	if err != nil {
		return Measurement{Err: err.Error()}
	}
	ctx, cancel := context.WithTimeout(parent, p.Timeout.D())
	defer cancel()
	start := time.Now()
	v, warnings, err := c.Query(ctx, p.Query, time.Now())
	took := time.Since(start)
	if err != nil {
		var perr *promv1.Error
		if errors.As(err, &perr) && perr.Type == promv1.ErrBadData {
			return Measurement{Values: map[string]any{"latency": took}, Err: fmt.Sprintf("%s: the query is invalid: %s", what, perr.Msg)}
		}
		return Measurement{Values: map[string]any{"latency": took}, Err: what + ": " + failure(parent, ctx, p.Timeout.D(), err)}
	}
	m := promValues(v)
	m.Values["latency"] = took
	if len(warnings) > 0 {
		m.Detail = "warnings: " + strings.Join(warnings, "; ")
	}
	if m.Err != "" {
		m.Err = what + ": " + m.Err
	}
	return m
}

// promValues turns a query result into measures: a scalar is the value; a
// vector's count is its length and its value is its one sample, or the
// list of its samples, each of which must then match. An empty vector has
// no value (only a count of 0), so `value` fails while `count: 0` holds.
func promValues(v model.Value) Measurement {
	m := Measurement{Values: map[string]any{}}
	switch t := v.(type) {
	case *model.Scalar:
		m.Values["value"] = float64(t.Value)
		m.Values["count"] = 1.0
	case model.Vector:
		m.Values["count"] = float64(len(t))
		samples := make([]float64, 0, len(t))
		var shown []string
		for _, s := range t {
			samples = append(samples, float64(s.Value))
			if len(shown) < 5 {
				shown = append(shown, fmt.Sprintf("%s=%g", s.Metric, float64(s.Value)))
			}
		}
		switch len(samples) {
		case 0:
			m.Detail = "empty vector"
		case 1:
			m.Values["value"] = samples[0]
		default:
			m.Values["value"] = samples
		}
		m.Detail = strings.Join(shown, ", ")
	default:
		m.Err = fmt.Sprintf("a %s result; use an instant vector or scalar query", v.Type())
	}
	if f, ok := m.Values["value"].(float64); ok && math.IsNaN(f) {
		m.Err = "the value is NaN (a division by zero, or no data in the range)"
	}
	return m
}
