// Package resilience is how the demo shop's services call each other: per
// call edge, a timeout on each attempt, retries with exponential backoff and
// jitter, a circuit breaker, and a fallback the caller may use instead of
// failing. Policies come in two named profiles, "off" and "on", that a
// configuration file or flags then adjust edge by edge.
package resilience

import (
	"errors"
	"fmt"
	"time"
)

// Duration is a time.Duration written as "300ms" in JSON and YAML.
type Duration time.Duration

// MarshalText writes d as Go duration text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads Go duration text ("300ms", "2s", "0").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q: want e.g. 300ms or 2s", b)
	}
	*d = Duration(v)
	return nil
}

// Edge is the policy of the calls from one service to one dependency.
type Edge struct {
	// Timeout bounds each attempt; 0 means none (the call waits as long
	// as the dependency takes, or the operating system lets it).
	Timeout Duration `json:"timeout" yaml:"timeout"`
	// Retries is how many more attempts follow a failed one. Only
	// failures that say the dependency is unavailable are retried (an
	// error, a timeout, a 5xx or 429), never a refusal (4xx, 507).
	Retries int `json:"retries" yaml:"retries"`
	// Backoff is the wait before the first retry; each later wait doubles,
	// up to MaxBackoff.
	Backoff    Duration `json:"backoff" yaml:"backoff"`
	MaxBackoff Duration `json:"maxBackoff" yaml:"maxBackoff"`
	// Jitter is the share of each wait (0 to 1) drawn at random, so that
	// callers failing together do not retry together.
	Jitter float64 `json:"jitter" yaml:"jitter"`
	// Breaker is the circuit breaker around the attempts; without
	// Failures there is none.
	Breaker Breaker `json:"breaker" yaml:"breaker"`
	// Fallback lets the caller degrade instead of failing when the
	// dependency is unavailable (what it degrades to is the caller's).
	Fallback bool `json:"fallback" yaml:"fallback"`
}

// Breaker configures a circuit breaker.
type Breaker struct {
	// Failures is how many consecutive failed attempts open the breaker;
	// 0 means no breaker.
	Failures int `json:"failures" yaml:"failures"`
	// OpenFor is how long an open breaker refuses calls before it lets
	// one trial call through (half-open); its success closes it again.
	OpenFor Duration `json:"openFor" yaml:"openFor"`
}

// Validate says what is wrong with e, if anything.
func (e Edge) Validate() error {
	var errs []error
	if e.Timeout < 0 {
		errs = append(errs, errors.New("timeout: must not be negative"))
	}
	if e.Retries < 0 || e.Retries > 10 {
		errs = append(errs, fmt.Errorf("retries: %d is out of 0..10", e.Retries))
	}
	if e.Backoff < 0 || e.MaxBackoff < 0 {
		errs = append(errs, errors.New("backoff, maxBackoff: must not be negative"))
	}
	if e.Jitter < 0 || e.Jitter > 1 {
		errs = append(errs, fmt.Errorf("jitter: %g is out of 0..1", e.Jitter))
	}
	if e.Breaker.Failures < 0 {
		errs = append(errs, errors.New("breaker.failures: must not be negative"))
	}
	if e.Breaker.Failures > 0 && e.Breaker.OpenFor <= 0 {
		errs = append(errs, errors.New("breaker.openFor: a breaker needs a positive openFor"))
	}
	return errors.Join(errs...)
}

// Policy is the resilience of every call edge of the shop, grouped by the
// calling service.
type Policy struct {
	Frontend FrontendCalls `json:"frontend" yaml:"frontend"`
	Orders   OrdersCalls   `json:"orders" yaml:"orders"`
}

// FrontendCalls are the edges out of frontend.
type FrontendCalls struct {
	Catalogue Edge `json:"catalogue" yaml:"catalogue"`
	Carts     Edge `json:"carts" yaml:"carts"`
	Orders    Edge `json:"orders" yaml:"orders"`
}

// OrdersCalls are the edges out of orders.
type OrdersCalls struct {
	Payment  Edge `json:"payment" yaml:"payment"`
	Shipping Edge `json:"shipping" yaml:"shipping"`
}

// Validate checks every edge, naming the bad ones.
func (p Policy) Validate() error {
	var errs []error
	for name, e := range map[string]Edge{
		"frontend.catalogue": p.Frontend.Catalogue,
		"frontend.carts":     p.Frontend.Carts,
		"frontend.orders":    p.Frontend.Orders,
		"orders.payment":     p.Orders.Payment,
		"orders.shipping":    p.Orders.Shipping,
	} {
		if err := e.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("calls.%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Profiles are the named starting points of a policy.
var Profiles = []string{"off", "on"}

// Profile returns the named policy:
//
//   - "off" is plain calls: no retries, no breaker, no fallback, and
//     generous timeouts, none at all on the checkout path (frontend →
//     orders → payment, shipping), so a frozen payment service makes
//     checkout hang.
//   - "on" puts a tight timeout on every attempt, one retry with jittered
//     backoff where the call is idempotent, a breaker on every edge and a
//     fallback wherever the caller has something useful to degrade to.
//     Checkout is not retried by frontend: orders already retries its own
//     calls, and retrying at two layers multiplies the load on a
//     struggling dependency.
func Profile(name string) (Policy, error) {
	switch name {
	case "off":
		plain := Edge{Timeout: Duration(10 * time.Second)}
		return Policy{
			Frontend: FrontendCalls{Catalogue: plain, Carts: plain, Orders: Edge{}},
			Orders:   OrdersCalls{Payment: Edge{}, Shipping: Edge{}},
		}, nil
	case "on":
		breaker := Breaker{Failures: 5, OpenFor: Duration(5 * time.Second)}
		quick := Edge{
			Timeout:    Duration(150 * time.Millisecond),
			Retries:    1,
			Backoff:    Duration(25 * time.Millisecond),
			MaxBackoff: Duration(250 * time.Millisecond),
			Jitter:     0.5,
			Breaker:    breaker,
			Fallback:   true,
		}
		backend := quick
		backend.Timeout = Duration(300 * time.Millisecond)
		backend.Backoff = Duration(50 * time.Millisecond)
		return Policy{
			Frontend: FrontendCalls{
				Catalogue: quick,
				Carts:     quick,
				Orders:    Edge{Timeout: Duration(2 * time.Second), Breaker: breaker},
			},
			Orders: OrdersCalls{Payment: backend, Shipping: backend},
		}, nil
	}
	return Policy{}, fmt.Errorf("unknown resilience profile %q: want off or on", name)
}
