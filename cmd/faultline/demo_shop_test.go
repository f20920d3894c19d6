package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/examples/shop"
	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/internal/procfs"
)

// shopCall sends one request to the shop, failing the test on a
// transport error.
func shopCall(t *testing.T, method, url, body string, timeout time.Duration) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type shopPid struct {
	pid   int
	start uint64
}

func shopPids(t *testing.T, dir string) map[string]shopPid {
	t.Helper()
	pids := map[string]shopPid{}
	for _, s := range shop.Services {
		pid, start, ok, err := readPidfile(filepath.Join(dir, s+".pid"))
		if err != nil || !ok {
			t.Fatalf("pidfile of %s: ok %v, %v", s, ok, err)
		}
		pids[s] = shopPid{pid, start}
	}
	return pids
}

// The whole shop as a user runs it: up on free ports in a temp state
// directory, every service healthy and measured, an order end to end, a
// paused payment absorbed by resilience on, a killed one restarted by up,
// and down leaving no process behind.
func TestDemoShopUpOrderPauseRestartDown(t *testing.T) {
	e := newEnv(t, nil)
	state := filepath.Join(e.dir, "state")
	dir := filepath.Join(state, "faultline", "shop")
	e.vars = append(e.vars, "XDG_STATE_HOME="+state)
	urls := map[string]string{}
	var ports []string
	for _, s := range shop.Services {
		p := freePort(t)
		urls[s] = fmt.Sprintf("http://127.0.0.1:%d", p)
		ports = append(ports, fmt.Sprintf("%s=%d", s, p))
	}
	up := func(args ...string) result { return e.faultline(t, append([]string{"demo", "shop", "up"}, args...)...) }
	t.Cleanup(func() { e.faultline(t, "demo", "shop", "down") }) // whatever happens below

	r := up("--resilience", "on", "--ports", strings.Join(ports, ","))
	if r.code != 0 {
		t.Fatalf("demo shop up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	pids := shopPids(t, dir)
	for _, s := range shop.Services {
		if !strings.Contains(r.stdout, urls[s]+"/") {
			t.Errorf("up does not print %s's URL:\n%s", s, r.stdout)
		}
		if cmdline, _ := procfs.Cmdline(pids[s].pid); !strings.Contains(cmdline, "demo shop serve "+s) {
			t.Errorf("%s's command line %q does not name it", s, cmdline)
		}
		if status, body := shopCall(t, "GET", urls[s]+"/healthz", "", 5*time.Second); status != 200 {
			t.Errorf("%s /healthz: %d %s", s, status, body)
		}
		status, body := shopCall(t, "GET", urls[s]+"/metrics", "", 5*time.Second)
		if status != 200 || !strings.Contains(string(body), fmt.Sprintf(`shop_http_requests_total{code="200",method="GET",route="/healthz",service=%q}`, s)) {
			t.Errorf("%s /metrics: %d, no request count of its /healthz", s, status)
		}
	}

	// An order end to end, from the cart.
	if status, body := shopCall(t, "POST", urls["frontend"]+"/api/cart/items", `{"customer":"it","itemId":"sock-2","quantity":2}`, 5*time.Second); status != 200 {
		t.Fatalf("add to cart: %d %s", status, body)
	}
	status, body := shopCall(t, "POST", urls["frontend"]+"/checkout", `{"customer":"it"}`, 5*time.Second)
	var o api.Order
	json.Unmarshal(body, &o)
	if status != 201 || o.Status != api.OrderShipped || o.Tracking == "" || o.TotalCents != 2500 {
		t.Fatalf("checkout: %d %s", status, body)
	}
	for _, check := range []struct{ service, path, want string }{
		{"orders", fmt.Sprintf("/api/orders/%d", o.ID), `"status":"shipped"`},
		{"payment", fmt.Sprintf("/api/payments/%d", o.ID), `"status":"authorized"`},
		{"shipping", fmt.Sprintf("/api/shipments/%d", o.ID), o.Tracking},
		{"frontend", "/api/cart?customer=it", `"count":0`},
	} {
		if status, body := shopCall(t, "GET", urls[check.service]+check.path, "", 5*time.Second); status != 200 || !strings.Contains(string(body), check.want) {
			t.Errorf("%s %s: %d %s; want %s", check.service, check.path, status, body, check.want)
		}
	}
	if _, body := shopCall(t, "GET", urls["frontend"]+"/metrics", "", 5*time.Second); !strings.Contains(string(body), `shop_client_calls_total{dependency="orders",outcome="success",service="frontend"} 1`) {
		t.Error("frontend's metrics do not count its call to orders")
	}

	// Payment paused: with resilience on, checkout is accepted within its
	// budget and completed once payment runs again.
	payment := pids["payment"].pid
	syscall.Kill(payment, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(payment, syscall.SIGCONT) })
	start := time.Now()
	status, body = shopCall(t, "POST", urls["frontend"]+"/checkout", `{"customer":"it","items":[{"itemId":"sock-1","quantity":1}]}`, 5*time.Second)
	json.Unmarshal(body, &o)
	if status != 202 || o.Status != api.OrderPaymentPending || time.Since(start) > 2*time.Second {
		t.Errorf("checkout with payment paused: %d after %s: %s", status, time.Since(start), body)
	}
	if r := e.faultline(t, "demo", "shop", "status"); r.code != 1 || !strings.Contains(r.stdout, "paused") {
		t.Errorf("status with payment paused: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	syscall.Kill(payment, syscall.SIGCONT)
	pollUntil(t, 15*time.Second, "the pending order to ship", func() bool {
		_, body := shopCall(t, "GET", fmt.Sprintf("%s/api/orders/%d", urls["orders"], o.ID), "", 5*time.Second)
		return strings.Contains(string(body), `"status":"shipped"`)
	})

	// Payment killed: up (without flags, as an experiment's rollback would
	// run it) restarts it alone with the configuration the rest runs;
	// another configuration is refused while the shop runs.
	syscall.Kill(payment, syscall.SIGKILL)
	pollUntil(t, 5*time.Second, "payment to die", func() bool { return !procfs.Alive(payment, pids["payment"].start) })
	if r := up(); r.code != 0 || !strings.Contains(r.stdout, "restarted payment") || !strings.Contains(r.stdout, "resilience on") {
		t.Fatalf("up after a kill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	restarted := shopPids(t, dir)
	for _, s := range shop.Services {
		if (restarted[s] == pids[s]) == (s == "payment") {
			t.Errorf("%s: pid %v before, %v after the restart", s, pids[s], restarted[s])
		}
	}
	if r := up("--resilience", "off", "--ports", strings.Join(ports, ",")); r.code != 2 || !strings.Contains(r.stderr, "demo shop down") {
		t.Errorf("up with another profile while running: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.faultline(t, "demo", "shop", "status"); r.code != 0 || strings.Count(r.stdout, " ok\n") != len(shop.Services) {
		t.Errorf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Down ends every process and only those.
	if r := e.faultline(t, "demo", "shop", "down"); r.code != 0 || !strings.Contains(r.stdout, "6 processes") {
		t.Errorf("down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, s := range shop.Services {
		p := restarted[s]
		pollUntil(t, 5*time.Second, s+" to exit", func() bool { return !procfs.Alive(p.pid, p.start) })
		if _, _, _, err := readPidfile(filepath.Join(dir, s+".pid")); err == nil {
			t.Errorf("%s's pidfile is left", s)
		}
	}
	if r := e.faultline(t, "demo", "shop", "status"); r.code != 1 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("status after down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
