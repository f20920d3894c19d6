package resilience_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/examples/shop/resilience"
)

func TestProfiles(t *testing.T) {
	off, err := resilience.Profile("off")
	if err != nil {
		t.Fatal(err)
	}
	on, err := resilience.Profile("on")
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]resilience.Policy{"off": off, "on": on} {
		if err := p.Validate(); err != nil {
			t.Errorf("profile %s: %v", name, err)
		}
	}
	// Off leaves the checkout path without a timeout: the weakness the
	// experiments are meant to find.
	if off.Frontend.Orders.Timeout != 0 || off.Orders.Payment.Timeout != 0 || off.Orders.Payment.Fallback {
		t.Errorf("profile off protects checkout: %+v", off)
	}
	// On bounds every edge and breaks every circuit.
	for _, e := range []resilience.Edge{on.Frontend.Catalogue, on.Frontend.Carts, on.Frontend.Orders, on.Orders.Payment, on.Orders.Shipping} {
		if e.Timeout == 0 || e.Breaker.Failures == 0 {
			t.Errorf("profile on leaves an edge unprotected: %+v", e)
		}
	}
	if _, err := resilience.Profile("maybe"); err == nil || !strings.Contains(err.Error(), "want off or on") {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestEdgeValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edge resilience.Edge
		want string // "" for valid
	}{
		{"zero is plain calls", resilience.Edge{}, ""},
		{"negative timeout", resilience.Edge{Timeout: -1}, "timeout"},
		{"too many retries", resilience.Edge{Retries: 11}, "retries"},
		{"jitter over 1", resilience.Edge{Jitter: 1.5}, "jitter"},
		{"breaker without openFor", resilience.Edge{Breaker: resilience.Breaker{Failures: 3}}, "openFor"},
		{"breaker", resilience.Edge{Breaker: resilience.Breaker{Failures: 3, OpenFor: resilience.Duration(time.Second)}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.edge.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDurationIsTextInJSON(t *testing.T) {
	b, err := json.Marshal(resilience.Edge{Timeout: resilience.Duration(300 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"timeout":"300ms"`) {
		t.Errorf("got %s", b)
	}
	var e resilience.Edge
	if err := json.Unmarshal(b, &e); err != nil || e.Timeout != resilience.Duration(300*time.Millisecond) {
		t.Errorf("read back %+v, %v", e, err)
	}
	if err := json.Unmarshal([]byte(`{"timeout":"soon"}`), &e); err == nil {
		t.Error("a bad duration was accepted")
	}
}
