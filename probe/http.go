package probe

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ohler55/ojg/jp"

	"github.com/faultline-dev/faultline/expect"
	"github.com/faultline-dev/faultline/experiment"
)

// Limits of the http probe.
const (
	// httpBodyLimit caps the body measure.
	httpBodyLimit = 64 << 10
	// httpJSONLimit caps the body a jsonPath is evaluated on.
	httpJSONLimit = 4 << 20
)

// HTTPParams are the settings of the http probe.
type HTTPParams struct {
	URL     string            `yaml:"url" json:"url" required:"true"`
	Method  string            `yaml:"method" json:"method,omitempty"`
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	Body    string            `yaml:"body" json:"body,omitempty"`
	// Timeout bounds the whole exchange, from connecting to reading the
	// last byte of the body.
	Timeout            experiment.Duration `yaml:"timeout" json:"timeout,omitempty"`
	InsecureSkipVerify bool                `yaml:"insecureSkipVerify" json:"insecureSkipVerify,omitempty"`
	// FollowRedirects defaults to true, so false is always written out.
	FollowRedirects bool `yaml:"followRedirects" json:"followRedirects"`
	// JSONPath is evaluated on the JSON body; what it finds is the value
	// measure (one match as itself, several as a list).
	JSONPath string `yaml:"jsonPath" json:"jsonPath,omitempty"`

	// client is shared by every sample of these settings so connections are
	// kept alive between samples; the kind's defaults set it.
	client *sharedClient
}

// sharedClient builds its HTTP client on first use, from the settings as
// decoded.
type sharedClient struct {
	once   sync.Once
	client *http.Client
}

func init() {
	Define(Def[HTTPParams]{
		Name:    "http",
		Summary: "sends one HTTP request and measures the status, the latency to the last byte of the body, the body and a JSONPath value",
		Measures: map[string]expect.Kind{
			"status":  expect.Number,
			"latency": expect.Duration,
			"body":    expect.Text,
			"value":   expect.Any,
		},
		Primary: "latency",
		Defaults: func() HTTPParams {
			return HTTPParams{
				Method:          http.MethodGet,
				Timeout:         experiment.Duration(2 * time.Second),
				FollowRedirects: true,
				client:          &sharedClient{},
			}
		},
		Measure: measureHTTP,
	})
}

// tokenRE matches an HTTP token (RFC 9110 section 5.6.2): a method or a
// header name.
var tokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// Validate implements experiment.Validator.
// ValidateExpect implements experiment.ExpectValidator: `value` is what
// jsonPath finds, so judging it needs a jsonPath.
func (p *HTTPParams) ValidateExpect(measures []string) error {
	if p.JSONPath == "" && slices.Contains(measures, "value") {
		return experiment.FieldErrorf("value", "value is what jsonPath finds in the body: set jsonPath in the http settings")
	}
	return nil
}

func (p *HTTPParams) Validate() error {
	var errs []error
	if p.URL == "" {
		errs = append(errs, experiment.FieldErrorf("url", "required: the address to request, such as http://127.0.0.1:8080/health"))
	} else if u, err := url.Parse(p.URL); err != nil {
		errs = append(errs, experiment.FieldErrorf("url", "bad URL %q: %v", p.URL, errors.Unwrap(err)))
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, experiment.FieldErrorf("url", "%q is not an absolute http or https URL: write it as http://host:port/path", p.URL))
	}
	switch {
	case !tokenRE.MatchString(p.Method):
		errs = append(errs, experiment.FieldErrorf("method", "bad method %q: want GET, POST, HEAD, …", p.Method))
	case p.Method != strings.ToUpper(p.Method):
		errs = append(errs, experiment.FieldErrorf("method", "methods are case-sensitive: write %s", strings.ToUpper(p.Method)))
	}
	for _, name := range sortedNames(p.Headers) {
		if !tokenRE.MatchString(name) {
			errs = append(errs, experiment.FieldErrorf("headers."+name, "bad header name %q", name))
		}
		if strings.ContainsAny(p.Headers[name], "\r\n\x00") {
			errs = append(errs, experiment.FieldErrorf("headers."+name, "a header value cannot hold a line break"))
		}
	}
	if p.Timeout <= 0 {
		errs = append(errs, experiment.FieldErrorf("timeout", "must be above zero, such as 2s"))
	}
	if p.JSONPath != "" {
		if _, err := jp.ParseString(p.JSONPath); err != nil {
			errs = append(errs, experiment.FieldErrorf("jsonPath", "bad JSONPath %q: %v", p.JSONPath, err))
		}
	}
	return errors.Join(errs...)
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// httpClient returns the client of these settings. Settings built without
// the kind's defaults get a client of their own, closed when done is called.
func (p *HTTPParams) httpClient() (c *http.Client, done func()) {
	if p.client == nil {
		c := newHTTPClient(p)
		return c, c.CloseIdleConnections
	}
	p.client.once.Do(func() { p.client.client = newHTTPClient(p) })
	return p.client.client, func() {}
}

func newHTTPClient(p *HTTPParams) *http.Client {
	tr := &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		// The experiment asks for it, to probe services with self-signed
		// certificates.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: p.InsecureSkipVerify}, //nolint:gosec
		ForceAttemptHTTP2: true,
		// A probe sends one request at a time: a couple of idle
		// connections is plenty, and they go away soon after the
		// experiment stops sampling.
		MaxIdleConns:          2,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	c := &http.Client{Transport: tr}
	if !p.FollowRedirects {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

func measureHTTP(parent context.Context, p *HTTPParams) Measurement {
	client, done := p.httpClient()
	defer done()
	ctx, cancel := context.WithTimeout(parent, p.Timeout.D())
	defer cancel()
	what := p.Method + " " + p.URL

	var body io.Reader
	if p.Body != "" {
		body = strings.NewReader(p.Body)
	}
	req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, body)
	if err != nil {
		return Measurement{Err: fmt.Sprintf("%s: %v", what, err)}
	}
	for name, v := range p.Headers {
		if strings.EqualFold(name, "Host") {
			req.Host = v
		} else {
			req.Header.Set(name, v)
		}
	}

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		// The pooled connection may be what failed (a restarted or frozen
		// server): the next sample dials afresh.
		client.CloseIdleConnections()
		return Measurement{
			Values: map[string]any{"latency": time.Since(start)},
			Err:    what + ": " + httpFailure(parent, ctx, p.Timeout.D(), err),
		}
	}
	defer resp.Body.Close()
	limit := httpBodyLimit
	if p.JSONPath != "" {
		limit = httpJSONLimit
	}
	got := newCapture(limit)
	_, err = io.Copy(got, resp.Body)
	m := Measurement{Values: map[string]any{
		"status":  float64(resp.StatusCode),
		"latency": time.Since(start),
		"body":    got.text(httpBodyLimit),
	}}
	m.Detail = resp.Status
	if s := excerpt(got.text(httpBodyLimit), 120); s != "" {
		m.Detail += ": " + s
	}
	if err != nil {
		client.CloseIdleConnections()
		m.Err = fmt.Sprintf("%s: reading the body: %s", what, httpFailure(parent, ctx, p.Timeout.D(), err))
		return m
	}
	if p.JSONPath != "" {
		if got.truncated() {
			m.Err = fmt.Sprintf("%s: the body is larger than %s, too large for jsonPath", what, experiment.Size(httpJSONLimit))
			return m
		}
		v, err := evalJSONPath(p.JSONPath, got.buf)
		if err != nil {
			m.Err = fmt.Sprintf("%s: %v", what, err)
			return m
		}
		m.Values["value"] = v
	}
	return m
}

// httpFailure is failure with advice for certificates that do not verify.
func httpFailure(parent, ctx context.Context, timeout time.Duration, err error) string {
	var cv *tls.CertificateVerificationError
	if parent.Err() == nil && errors.As(err, &cv) {
		return fmt.Sprintf("TLS certificate not trusted: %v (set insecureSkipVerify: true to skip verification)", cv.Err)
	}
	return failure(parent, ctx, timeout, err)
}

// evalJSONPath evaluates expr on the JSON document doc: one match is
// returned as itself, several as a list; no match is an error.
func evalJSONPath(expr string, doc []byte) (any, error) {
	x, err := jp.ParseString(expr)
	if err != nil {
		return nil, fmt.Errorf("bad jsonPath %q: %w", expr, err)
	}
	var data any
	if err := json.Unmarshal(doc, &data); err != nil {
		return nil, fmt.Errorf("the body is not JSON (%v), so jsonPath %s cannot be evaluated", err, expr)
	}
	found := x.Get(data)
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("jsonPath %s found nothing in the body", expr)
	case 1:
		return found[0], nil
	}
	return found, nil
}
