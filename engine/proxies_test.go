package engine_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/engine"
	_ "github.com/faultline-dev/faultline/fault/proxy"
	"github.com/faultline-dev/faultline/journal"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// assertClosed checks nothing listens on addr any more.
func assertClosed(t *testing.T, addr string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the run", addr)
	}
}

// TestExperimentProxies runs experiments whose faults act on their own
// fault proxy (spec.proxies): the checks reach the service through it, the
// fault's effect shows in them, and the proxy is gone after the run.
func TestExperimentProxies(t *testing.T) {
	for _, tc := range []struct {
		name, protocol, fault string
		status                journal.Status
	}{
		{"latency beyond the tolerance deviates", "tcp", `proxy.latency, params: {proxy: svc, latency: 300ms}`, journal.Deviated},
		{"latency within the tolerance holds", "tcp", `proxy.latency, params: {proxy: svc, latency: 20ms}`, journal.Held},
		{"an HTTP abort deviates", "http", `proxy.httpAbort, params: {proxy: svc, status: 503}`, journal.Deviated},
		{"the service's dependency down deviates", "tcp", `proxy.down, params: {proxy: svc}`, journal.Deviated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			listen := freeAddr(t)
			upstream := strings.TrimPrefix(f.url, "http://")
			x := f.doc(t, header+fmt.Sprintf(`
spec:
  proxies:
    - {name: svc, listen: "%s", upstream: "%s", protocol: %s}
  hypothesis:
    every: 100ms
    recoverWithin: 5s
    checks:
      - name: through the proxy
        http: {url: "http://%s/", timeout: 2s}
        expect: {status: 200, latency: "< 150ms"}
  method:
    - {fault: %s, duration: 1s}
`, listen, upstream, tc.protocol, listen, tc.fault))
			j := engine.Run(context.Background(), x, engine.Options{Ledger: f.ledger})
			if j.Status != tc.status {
				t.Fatalf("status %s (%s), want %s", j.Status, j.Reason, tc.status)
			}
			if got := len(types(j, journal.Recovered)); got != 1 {
				t.Errorf("%d faults recovered, want 1: %v", got, types(j, journal.Injected, journal.Recovered, journal.RecoverFailed))
			}
			if got := len(types(j, journal.Proxy)); got != 2 {
				t.Errorf("%d proxy events, want started and closed", got)
			}
			f.assertNothingOpen(t)
			assertClosed(t, listen)
		})
	}
}

// TestProxyAddressTakenFailsThePreCheck: a proxy that cannot listen fails
// the pre-check, naming its field; nothing is injected and the proxies
// already started are closed.
func TestProxyAddressTakenFailsThePreCheck(t *testing.T) {
	f := newFixture(t, 0)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	first := freeAddr(t)
	upstream := strings.TrimPrefix(f.url, "http://")
	j := engine.Run(context.Background(), f.doc(t, header+fmt.Sprintf(`
spec:
  proxies:
    - {name: one, listen: "%s", upstream: "%s"}
    - {name: two, listen: "%s", upstream: "%s"}
  method:
    - {fault: proxy.latency, params: {proxy: two, latency: 100ms}, duration: 1s}
`, first, upstream, taken.Addr(), upstream)), engine.Options{Ledger: f.ledger})
	if j.Status != journal.Aborted || !strings.Contains(j.Reason, "spec.proxies[1].listen") || !strings.Contains(j.Reason, "address already in use") {
		t.Fatalf("status %s (%s), want aborted naming spec.proxies[1].listen", j.Status, j.Reason)
	}
	if n := len(types(j, journal.Injecting)); n != 0 {
		t.Errorf("%d injections after a failed pre-check", n)
	}
	f.assertNothingOpen(t)
	assertClosed(t, first)
}

// TestProxyFaultNeedsItsRun: a fault bound to the experiment's own proxy
// cannot be injected by a process that does not run the experiment.
func TestProxyFaultNeedsItsRun(t *testing.T) {
	f := newFixture(t, 0)
	x := f.doc(t, header+`
spec:
  proxies: [{name: svc, listen: "127.0.0.1:1", upstream: "127.0.0.1:2"}]
  method: [{fault: proxy.latency, params: {proxy: svc, latency: 100ms}}]
`)
	_, err := engine.Plan(context.Background(), x)
	if err == nil || !strings.Contains(err.Error(), "only a run of the experiment starts it") {
		t.Fatalf("Plan without the run's proxies: %v", err)
	}
}
