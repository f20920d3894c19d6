package orders_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/examples/shop/orders"
	"github.com/faultline-dev/faultline/examples/shop/payment"
	"github.com/faultline-dev/faultline/examples/shop/resilience"
	"github.com/faultline-dev/faultline/examples/shop/shipping"
	"github.com/faultline-dev/faultline/examples/shop/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openDB(t *testing.T, migrations []string) *sql.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"), migrations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// listen reserves a loopback port. Until something serves it, it accepts
// connections and never answers, as a SIGSTOPped service does.
func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func serveOn(t *testing.T, l net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

func startPayment(t *testing.T, l net.Listener) {
	serveOn(t, l, api.NewMux(payment.New(openDB(t, payment.Migrations), quiet).Routes()))
}

func startShipping(t *testing.T, l net.Listener) {
	serveOn(t, l, api.NewMux(shipping.New(openDB(t, shipping.Migrations), quiet).Routes()))
}

// refused is the URL of a port nothing listens on: a killed service.
func refused(t *testing.T) string {
	l := listen(t)
	l.Close()
	return "http://" + l.Addr().String()
}

func urlOf(l net.Listener) string { return "http://" + l.Addr().String() }

// newOrders serves orders calling payment and shipping under e.
func newOrders(t *testing.T, paymentURL, shippingURL string, e resilience.Edge) (string, *orders.Service, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := resilience.NewMetrics(reg)
	o := orders.New(openDB(t, orders.Migrations),
		resilience.NewClient("payment", paymentURL, e, m, quiet),
		resilience.NewClient("shipping", shippingURL, e, m, quiet), reg, quiet)
	l := listen(t)
	serveOn(t, l, api.NewMux(o.Routes()))
	return urlOf(l), o, reg
}

func place(t *testing.T, url, key, body string) (int, api.Order) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/orders", bytes.NewBufferString(body))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return send(t, req)
}

func getOrder(t *testing.T, url string, id int64) api.Order {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/orders/%d", url, id), nil)
	_, o := send(t, req)
	return o
}

func send(t *testing.T, req *http.Request) (int, api.Order) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var o api.Order
	json.NewDecoder(resp.Body).Decode(&o)
	return resp.StatusCode, o
}

const socks = `{"customer":"alice","items":[{"itemId":"sock-1","quantity":2,"unitPriceCents":999}]}`

func TestPlace(t *testing.T) {
	fallback := resilience.Edge{Timeout: resilience.Duration(time.Second), Fallback: true}
	for _, tc := range []struct {
		name                  string
		paymentUp, shippingUp bool
		edge                  resilience.Edge
		body                  string
		wantStatus            int
		wantOrderStatus       string // of the stored order, "" if none
	}{
		{"complete", true, true, resilience.Edge{}, socks, 201, api.OrderShipped},
		{"declined", true, true, resilience.Edge{}, `{"customer":"bob","items":[{"itemId":"sock-8","quantity":100,"unitPriceCents":2200}]}`, 402, api.OrderDeclined},
		{"payment down, fallback: pending", false, true, fallback, socks, 202, api.OrderPaymentPending},
		{"payment down, no fallback: failed", false, true, resilience.Edge{}, socks, 502, api.OrderFailed},
		{"shipping down, fallback: pending", true, false, fallback, socks, 202, api.OrderShippingPending},
		{"shipping down, no fallback: paid, not shipped", true, false, resilience.Edge{}, socks, 502, api.OrderPaid},
		{"no items", true, true, resilience.Edge{}, `{"customer":"alice","items":[]}`, 400, ""},
		{"no price", true, true, resilience.Edge{}, `{"customer":"alice","items":[{"itemId":"sock-1","quantity":1}]}`, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paymentURL, shippingURL := refused(t), refused(t)
			if tc.paymentUp {
				l := listen(t)
				startPayment(t, l)
				paymentURL = urlOf(l)
			}
			if tc.shippingUp {
				l := listen(t)
				startShipping(t, l)
				shippingURL = urlOf(l)
			}
			url, _, _ := newOrders(t, paymentURL, shippingURL, tc.edge)
			status, _ := place(t, url, "", tc.body)
			if status != tc.wantStatus {
				t.Errorf("status %d, want %d", status, tc.wantStatus)
			}
			if tc.wantOrderStatus == "" {
				return
			}
			if o := getOrder(t, url, 1); o.Status != tc.wantOrderStatus {
				t.Errorf("stored order %+v, want status %s", o, tc.wantOrderStatus)
			}
		})
	}
}

func TestIdempotencyKeyPlacesAnOrderOnce(t *testing.T) {
	pl, sl := listen(t), listen(t)
	startPayment(t, pl)
	startShipping(t, sl)
	url, _, _ := newOrders(t, urlOf(pl), urlOf(sl), resilience.Edge{})
	s1, o1 := place(t, url, "checkout-1", socks)
	s2, o2 := place(t, url, "checkout-1", socks)
	_, o3 := place(t, url, "checkout-2", socks)
	if s1 != 201 || s2 != 201 || o1.ID != o2.ID || o3.ID == o1.ID {
		t.Errorf("statuses %d, %d; ids %d, %d, %d: want one order per key", s1, s2, o1.ID, o2.ID, o3.ID)
	}
	if status, _ := place(t, url, "bad key!", socks); status != 400 {
		t.Errorf("a bad key: status %d, want 400", status)
	}
}

// A frozen payment service: with a fallback the order is accepted within
// the edge's budget and completed by Work once payment is back.
func TestWorkCompletesPendingOrdersWhenTheDependencyIsBack(t *testing.T) {
	pl, sl := listen(t), listen(t) // payment accepts connections but never answers
	startShipping(t, sl)
	url, o, reg := newOrders(t, urlOf(pl), urlOf(sl), resilience.Edge{Timeout: resilience.Duration(100 * time.Millisecond), Fallback: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Work(ctx, 50*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	start := time.Now()
	status, placed := place(t, url, "", socks)
	if status != 202 || placed.Status != api.OrderPaymentPending || time.Since(start) > 2*time.Second {
		t.Fatalf("status %d, order %+v after %s; want 202 payment_pending within about 100ms", status, placed, time.Since(start))
	}
	deadline := time.Now().Add(5 * time.Second)
	for pending(t, reg) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("shop_orders_pending is %g, want 1", pending(t, reg))
		}
		time.Sleep(20 * time.Millisecond)
	}
	startPayment(t, pl) // resume
	deadline = time.Now().Add(10 * time.Second)
	for getOrder(t, url, placed.ID).Status != api.OrderShipped {
		if time.Now().After(deadline) {
			t.Fatalf("order %+v not completed after payment came back", getOrder(t, url, placed.ID))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The gauge follows within a round.
	deadline = time.Now().Add(5 * time.Second)
	for pending(t, reg) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("shop_orders_pending still %g", pending(t, reg))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pending(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "shop_orders_pending" {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
