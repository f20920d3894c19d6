// Package proxy is the proxy.* fault kinds: each adds a toxic to a proxy
// of a fault proxy daemon (`faultline proxy`, or anything answering
// Toxiproxy's HTTP API) and removes it at recovery; proxy.down disables
// the proxy and enables it again. The toxic is named after the fault's id,
// so recovery finds it from the record alone. The faults act on no process:
// the client and its dependency talk through the proxy.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultAPI is where `faultline proxy` (and Toxiproxy) answer by default.
const DefaultAPI = "http://127.0.0.1:8474"

// requestTimeout bounds each call to the API.
const requestTimeout = 10 * time.Second

// client calls a proxy daemon's API.
type client struct {
	base string // the API's URL without a trailing slash
	hc   *http.Client
}

func newClient(api string) *client {
	return &client{base: strings.TrimRight(api, "/"), hc: &http.Client{Timeout: requestTimeout}}
}

// proxyInfo is a proxy as the API shows it.
type proxyInfo struct {
	Name     string      `json:"name"`
	Enabled  bool        `json:"enabled"`
	Protocol string      `json:"protocol"`
	Toxics   []toxicInfo `json:"toxics"`
}

type toxicInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// statusError is an answer from the API other than success.
type statusError struct {
	url    string
	status int
	msg    string // the API's "error"
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.url, e.status, e.msg)
}

// isStatus reports whether err is an answer of the API with that status.
func isStatus(err error, status int) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == status
}

// do sends a request and decodes a successful answer's body into out (if
// not nil). A daemon that does not answer gives an error saying so.
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	u := c.base + path
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request to %s: %w", u, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("proxy API %q: %w", c.base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("the proxy API at %s does not answer (start it with `faultline proxy`, or set api): %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read the answer of %s %s: %w", method, u, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &statusError{url: method + " " + u, status: resp.StatusCode, msg: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode the answer of %s %s: %w", method, u, err)
		}
	}
	return nil
}

func proxyPath(name string) string { return "/proxies/" + url.PathEscape(name) }

// proxy returns the proxy called name; a missing one is an error naming
// the proxies there are.
func (c *client) proxy(ctx context.Context, name string) (*proxyInfo, error) {
	var p proxyInfo
	err := c.do(ctx, http.MethodGet, proxyPath(name), nil, &p)
	if isStatus(err, http.StatusNotFound) {
		return nil, c.notFound(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// errNoProxy marks a proxy missing from the daemon.
var errNoProxy = errors.New("no proxy")

func (c *client) notFound(ctx context.Context, name string) error {
	var all map[string]proxyInfo
	known := "it has none"
	if c.do(ctx, http.MethodGet, "/proxies", nil, &all) == nil && len(all) > 0 {
		names := make([]string, 0, len(all))
		for n := range all {
			names = append(names, n)
		}
		slices.Sort(names)
		known = "it has " + strings.Join(names, ", ")
	}
	return fmt.Errorf("%w %q at %s (%s)", errNoProxy, name, c.base, known)
}
