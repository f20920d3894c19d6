package resilience

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/faultline-dev/faultline/examples/shop/api"
)

// ErrBreakerOpen is a call the open (or busy half-open) circuit breaker
// refused without sending it.
var ErrBreakerOpen = errors.New("circuit breaker open")

// ErrTimeout is an attempt that ran out of its edge's timeout.
var ErrTimeout = errors.New("timed out")

// StatusError is an answer outside 2xx.
type StatusError struct {
	Status  int
	Message string // the answer's api.Error, or the start of its body
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Message) }

// refused reports whether the dependency answered and said no: a 4xx
// other than 429, or 507 (its store is full, which retrying will not
// cure). The dependency works, so this is neither retried nor counted
// against the breaker.
func (e *StatusError) refused() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests ||
		e.Status == http.StatusInsufficientStorage
}

// Refused reports whether err is the dependency's considered refusal (a
// 4xx other than 429, or 507), which a caller should pass on rather than
// treat as an outage.
func Refused(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.refused()
}

// errCallerGone marks an attempt abandoned because the caller's context
// ended: it says nothing about the dependency, so the breaker ignores it.
var errCallerGone = errors.New("caller gone")

// Client calls one dependency under one edge's policy.
type Client struct {
	dependency string
	base       string
	edge       Edge
	http       *http.Client
	breaker    *gobreaker.TwoStepCircuitBreaker[struct{}] // nil: no breaker
	m          *Metrics
	log        *slog.Logger
}

// NewClient returns a client of the dependency named dependency at
// baseURL (http://host:port), whose calls follow e and are counted in m.
func NewClient(dependency, baseURL string, e Edge, m *Metrics, log *slog.Logger) *Client {
	c := &Client{
		dependency: dependency,
		base:       baseURL,
		edge:       e,
		http: &http.Client{Transport: &http.Transport{
			Proxy:               nil, // loopback calls never go through a proxy
			DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     90 * time.Second,
		}},
		m:   m,
		log: log.With("dependency", dependency),
	}
	if e.Breaker.Failures > 0 {
		failures := uint32(e.Breaker.Failures)
		c.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        dependency,
			Timeout:     time.Duration(e.Breaker.OpenFor),
			ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= failures },
			IsExcluded:  func(err error) bool { return errors.Is(err, errCallerGone) },
			OnStateChange: func(_ string, from, to gobreaker.State) {
				c.log.Warn("circuit breaker", "from", from.String(), "to", to.String())
			},
		})
		m.breakerState(dependency, func() float64 { return float64(c.breaker.State()) })
	}
	return c
}

// Request is one call.
type Request struct {
	Method string
	Path   string      // with its query, e.g. /api/items?n=3
	Header http.Header // extra headers, may be nil
	Body   any         // sent as JSON unless nil
}

// Do sends req under the edge's policy and decodes a 2xx answer's JSON
// body into out (unless out is nil), returning the answer's status. An
// answer outside 2xx is a *StatusError; an attempt over its timeout is
// ErrTimeout; a call the breaker refused is ErrBreakerOpen.
func (c *Client) Do(ctx context.Context, req Request, out any) (int, error) {
	var body []byte
	if req.Body != nil {
		b, err := json.Marshal(req.Body)
		if err != nil {
			return 0, fmt.Errorf("%s %s %s: %w", c.dependency, req.Method, req.Path, err)
		}
		body = b
	}
	start := time.Now()
	var status int
	var err error
	for retry := 0; ; retry++ {
		status, err = c.attempt(ctx, req, body, out)
		if err == nil || retry >= c.edge.Retries || !retryable(ctx, err) {
			break
		}
		wait := backoff(c.edge, retry, rand.Float64())
		c.log.Debug("retrying", "after", wait, "err", err)
		if werr := sleep(ctx, wait); werr != nil {
			err = fmt.Errorf("%w (the caller gave up before the retry: %w)", err, werr)
			break
		}
		c.m.retries.WithLabelValues(c.dependency).Inc()
	}
	outcome := c.outcome(ctx, err)
	c.m.calls.WithLabelValues(c.dependency, outcome).Inc()
	c.m.duration.WithLabelValues(c.dependency, outcome).Observe(time.Since(start).Seconds())
	if err != nil {
		return status, fmt.Errorf("%s %s %s: %w", c.dependency, req.Method, req.Path, err)
	}
	return status, nil
}

// attempt sends the request once, through the breaker.
func (c *Client) attempt(ctx context.Context, req Request, body []byte, out any) (int, error) {
	done := func(error) {}
	if c.breaker != nil {
		d, err := c.breaker.Allow()
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrBreakerOpen, err)
		}
		done = d
	}
	status, err := c.send(ctx, req, body, out)
	result := "success"
	switch {
	case err == nil:
		done(nil)
	case ctx.Err() != nil:
		result = "canceled"
		done(errCallerGone)
	case Refused(err):
		result = "refused"
		done(nil) // the dependency works: it answered
	default:
		result = "error"
		var se *StatusError
		if errors.As(err, &se) {
			result = "server_error"
		} else if errors.Is(err, ErrTimeout) {
			result = "timeout"
		}
		done(err)
		c.log.Debug("attempt failed", "err", err)
	}
	c.m.attempts.WithLabelValues(c.dependency, result).Inc()
	return status, err
}

// send does one HTTP exchange within the edge's timeout.
func (c *Client) send(ctx context.Context, req Request, body []byte, out any) (int, error) {
	actx := ctx
	if c.edge.Timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, time.Duration(c.edge.Timeout))
		defer cancel()
	}
	// A timeout while the body is read counts as the attempt's timeout too.
	timedOut := func(err error) error {
		if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w after %s", ErrTimeout, time.Duration(c.edge.Timeout))
		}
		return err
	}
	hreq, err := http.NewRequestWithContext(actx, req.Method, c.base+req.Path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range req.Header {
		hreq.Header[k] = v
	}
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return 0, timedOut(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if err != nil {
			return resp.StatusCode, timedOut(err)
		}
		msg := string(b)
		var e api.Error
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return resp.StatusCode, &StatusError{Status: resp.StatusCode, Message: msg}
	}
	if out != nil {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(out); err != nil {
			return resp.StatusCode, timedOut(fmt.Errorf("decode answer: %w", err))
		}
	}
	return resp.StatusCode, nil
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// retryable reports whether another attempt could succeed where err
// failed: the dependency seemed unavailable, its breaker let the call
// through, and the caller still waits.
func retryable(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !errors.Is(err, ErrBreakerOpen) && !Refused(err)
}

// Unavailable reports whether err says the dependency could not answer:
// it failed, timed out, answered 5xx or 429, or its breaker is open — as
// opposed to a refusal (4xx, 507) or the caller giving up.
func Unavailable(err error) bool {
	return err != nil && !Refused(err) && !errors.Is(err, context.Canceled)
}

// Fallback reports whether the caller should answer err with its
// fallback instead of failing: the edge has one and the dependency is
// unavailable. Every true answer is counted.
func (c *Client) Fallback(err error) bool {
	if !c.edge.Fallback || !Unavailable(err) {
		return false
	}
	c.m.fallbacks.WithLabelValues(c.dependency).Inc()
	c.log.Debug("fallback", "err", err)
	return true
}

func (c *Client) outcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return "success"
	case ctx.Err() != nil:
		return "canceled"
	case Refused(err):
		return "refused"
	case errors.Is(err, ErrBreakerOpen):
		return "rejected"
	}
	return "failure"
}

// backoff is the wait before retry number retry+1: Backoff doubled retry
// times, capped at MaxBackoff, less a random share (r in [0,1) times
// Jitter) of it.
func backoff(e Edge, retry int, r float64) time.Duration {
	d, limit := time.Duration(e.Backoff), time.Duration(e.MaxBackoff)
	for i := 0; i < retry && (limit == 0 || d < limit); i++ {
		d *= 2
	}
	if limit > 0 && d > limit {
		d = limit
	}
	return d - time.Duration(e.Jitter*r*float64(d))
}

// Status is the HTTP status a caller answers with when a call failed
// with err: the dependency's own status when it refused (4xx, 507), 503 when
// the breaker refused the call, 504 when it timed out, 502 otherwise.
func Status(err error) int {
	var se *StatusError
	switch {
	case errors.As(err, &se) && se.refused():
		return se.Status
	case errors.Is(err, ErrBreakerOpen):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrTimeout):
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}
