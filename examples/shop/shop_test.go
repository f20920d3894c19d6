package shop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/examples/shop"
	"github.com/faultline-dev/faultline/examples/shop/api"
)

// testShop is the whole shop in this process, each service on its own
// loopback listener.
type testShop struct {
	cfg       shop.Config
	listeners map[string]net.Listener
	ctx       context.Context
	wg        sync.WaitGroup
}

// startShop runs every service but the held ones. A held service's port
// accepts connections and answers nothing, which is what its callers see
// of a SIGSTOPped process, until resume serves it.
func startShop(t *testing.T, profile string, held ...string) *testShop {
	t.Helper()
	cfg, err := shop.Load(shop.Options{Profile: profile, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s := &testShop{cfg: cfg, listeners: map[string]net.Listener{}}
	for _, name := range shop.Services {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.listeners[name] = l
		s.cfg.Ports[name] = l.Addr().(*net.TCPAddr).Port
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.ctx = ctx
	t.Cleanup(func() {
		cancel()
		s.wg.Wait()
		for _, l := range s.listeners {
			l.Close() // those still held
		}
	})
	for _, name := range shop.Services {
		if !strings.Contains(" "+strings.Join(held, " ")+" ", " "+name+" ") {
			s.resume(t, name)
		}
	}
	return s
}

// resume serves service on its listener and waits until it is healthy.
func (s *testShop) resume(t *testing.T, service string) {
	t.Helper()
	s.wg.Go(func() {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		if err := shop.Run(s.ctx, service, s.listeners[service], s.cfg, log); err != nil {
			t.Errorf("%s: %v", service, err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, err := s.send("GET", service, "/healthz", "", time.Second)
		if err == nil && status == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not healthy: %d, %v", service, status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send calls a service, giving up after timeout.
func (s *testShop) send(method, service, path, body string, timeout time.Duration) (int, []byte, error) {
	req, err := http.NewRequest(method, s.cfg.URL(service)+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	c := &http.Client{Timeout: timeout}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// metric is the value of one sample in service's /metrics (-1 if absent).
func (s *testShop) metric(t *testing.T, service, sample string) float64 {
	t.Helper()
	_, b, err := s.send("GET", service, "/metrics", "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	var v float64
	fmt.Sscan(string(m[1]), &v)
	return v
}

const checkout = `{"customer":"gameday","items":[{"itemId":"sock-1","quantity":1}]}`

// One dependency frozen, with resilience on and off: on, the caller answers
// within its budget thanks to the fallback (and a pending order completes
// once the dependency is back); off, it hangs.
func TestFrozenDependency(t *testing.T) {
	for _, tc := range []struct {
		frozen, caller  string
		method, path    string
		body            string
		profile         string
		wantStatus      int // 0: no answer within the budget
		wantBody        string
		completesOnBack bool // the order pending on the frozen service ships once it is back
	}{
		{"payment", "orders", "POST", "/checkout", checkout, "on", 202, `"status":"payment_pending"`, true},
		{"payment", "orders", "POST", "/checkout", checkout, "off", 0, "", false},
		{"shipping", "orders", "POST", "/checkout", checkout, "on", 202, `"status":"shipping_pending"`, true},
		{"shipping", "orders", "POST", "/checkout", checkout, "off", 0, "", false},
		{"catalogue", "frontend", "GET", "/", "", "on", 200, `"degraded":["catalogue","recommendations"]`, false},
		{"catalogue", "frontend", "GET", "/", "", "off", 0, "", false},
		{"carts", "frontend", "GET", "/", "", "on", 200, `"cartCount":null,"degraded":["cart"]`, false},
		{"carts", "frontend", "GET", "/", "", "off", 0, "", false},
	} {
		t.Run(tc.frozen+" frozen, resilience "+tc.profile, func(t *testing.T) {
			t.Parallel()
			s := startShop(t, tc.profile, tc.frozen)
			// The budget: profile on needs at most 2 attempts of 300ms and a
			// backoff (650ms); more than twice that for a loaded machine.
			// Profile off must not have answered by then.
			const budget = 1500 * time.Millisecond
			start := time.Now()
			status, body, err := s.send(tc.method, "frontend", tc.path, tc.body, budget)
			took := time.Since(start)
			switch {
			case tc.wantStatus == 0 && err == nil:
				t.Errorf("answered %d after %s: %s; want no answer within %s", status, took, body, budget)
			case tc.wantStatus != 0 && (err != nil || status != tc.wantStatus || !strings.Contains(string(body), tc.wantBody)):
				t.Errorf("after %s: status %d, err %v, body %s; want %d with %s", took, status, err, body, tc.wantStatus, tc.wantBody)
			}
			if tc.wantStatus != 0 {
				sample := fmt.Sprintf(`shop_client_fallbacks_total{dependency=%q,service=%q}`, tc.frozen, tc.caller)
				if v := s.metric(t, tc.caller, sample); v < 1 {
					t.Errorf("%s = %g, want at least 1", sample, v)
				}
			}
			s.resume(t, tc.frozen) // lets a hung request finish too
			if !tc.completesOnBack {
				return
			}
			var o api.Order
			json.Unmarshal(body, &o)
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, b, err := s.send("GET", "orders", fmt.Sprintf("/api/orders/%d", o.ID), "", time.Second)
				if err == nil && strings.Contains(string(b), `"status":"shipped"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("order %d not shipped after %s came back: %s", o.ID, tc.frozen, b)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

func TestRunRefusesAnUnknownService(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = shop.Run(context.Background(), "search", l, shop.Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), `no service "search"`) {
		t.Errorf("err %v", err)
	}
}
