package frontend_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/examples/shop/carts"
	"github.com/faultline-dev/faultline/examples/shop/catalogue"
	"github.com/faultline-dev/faultline/examples/shop/frontend"
	"github.com/faultline-dev/faultline/examples/shop/resilience"
	"github.com/faultline-dev/faultline/examples/shop/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openDB(t *testing.T, path string, migrations []string) *sql.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path, migrations)
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

func serve(t *testing.T, h http.Handler) string {
	l := listen(t)
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// deps are the frontend's dependencies' URLs, and what orders was sent.
type deps struct {
	catalogue, carts, orders string

	mu     sync.Mutex
	placed []api.PlaceOrder
	keys   []string
}

// upDeps serves a real catalogue and carts and a stub orders that
// answers 201, or 402 for customer "broke".
func upDeps(t *testing.T) *deps {
	dir := t.TempDir()
	d := &deps{
		catalogue: serve(t, api.NewMux(catalogue.New(openDB(t, filepath.Join(dir, "catalogue.db"), catalogue.Migrations), quiet).Routes())),
		carts:     serve(t, api.NewMux(carts.New(openDB(t, filepath.Join(dir, "carts.db"), carts.Migrations), quiet).Routes())),
	}
	d.orders = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var o api.PlaceOrder
		if err := api.Read(r, &o); err != nil {
			api.WriteError(w, 400, err)
			return
		}
		d.mu.Lock()
		d.placed = append(d.placed, o)
		d.keys = append(d.keys, r.Header.Get("Idempotency-Key"))
		d.mu.Unlock()
		if o.Customer == "broke" {
			api.Write(w, http.StatusPaymentRequired, api.Error{Error: "payment declined", Dependency: "payment"})
			return
		}
		api.Write(w, http.StatusCreated, api.Order{ID: 1, Customer: o.Customer, Lines: o.Lines, Status: api.OrderShipped})
	}))
	return d
}

// frozen is the URL of a dependency that accepts and never answers.
func frozen(t *testing.T) string { return "http://" + listen(t).Addr().String() }

// newFrontend serves a frontend whose store is dbPath, calling the deps
// under edge.
func newFrontend(t *testing.T, dbPath string, d *deps, e resilience.Edge) string {
	t.Helper()
	m := resilience.NewMetrics(prometheus.NewRegistry())
	f, err := frontend.New(context.Background(), openDB(t, dbPath, frontend.Migrations), frontend.Clients{
		Catalogue: resilience.NewClient("catalogue", d.catalogue, e, m, quiet),
		Carts:     resilience.NewClient("carts", d.carts, e, m, quiet),
		Orders:    resilience.NewClient("orders", d.orders, e, m, quiet),
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, api.NewMux(f.Routes()))
}

func call(t *testing.T, method, url, accept, body string, out any) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func TestHomeWithEveryDependencyUp(t *testing.T) {
	d := upDeps(t)
	url := newFrontend(t, filepath.Join(t.TempDir(), "frontend.db"), d, resilience.Edge{})
	var p frontend.Page
	status, _ := call(t, "GET", url+"/?customer=alice", "", "", &p)
	if status != 200 || len(p.Items) != 8 || len(p.Recommendations) != 3 || p.CartCount == nil || *p.CartCount != 0 || len(p.Degraded) != 0 {
		t.Errorf("status %d, page %+v", status, p)
	}
	status, html := call(t, "GET", url+"/", "text/html,application/xhtml+xml", "", nil)
	if status != 200 || !strings.Contains(html, "faultline sock shop") || !strings.Contains(html, "cart: 0 items") || !strings.Contains(html, "$9.99") {
		t.Errorf("status %d, HTML page:\n%s", status, html)
	}
}

// With a fallback the page degrades within the edge's budget; without
// one it fails. A frozen dependency is one that accepts and never answers.
func TestHomeDegrades(t *testing.T) {
	fallback := resilience.Edge{Timeout: resilience.Duration(100 * time.Millisecond), Fallback: true}
	plain := resilience.Edge{Timeout: resilience.Duration(100 * time.Millisecond)}
	for _, tc := range []struct {
		name          string
		frozen        string // catalogue or carts
		warm          bool   // a frontend read the catalogue (into the same store) before
		edge          resilience.Edge
		wantStatus    int
		wantItems     int
		wantCartKnown bool
		wantDegraded  []string
	}{
		{"catalogue frozen: the kept copy, no recommendations", "catalogue", true, fallback, 200, 8, true, []string{"catalogue", "recommendations"}},
		{"catalogue frozen, nothing kept: no items", "catalogue", false, fallback, 200, 0, true, []string{"catalogue", "recommendations"}},
		{"carts frozen: cart count unknown", "carts", false, fallback, 200, 8, false, []string{"cart"}},
		{"catalogue frozen, no fallback: 504", "catalogue", true, plain, 504, 0, false, nil},
		{"carts frozen, no fallback: 504", "carts", false, plain, 504, 0, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := upDeps(t)
			db := filepath.Join(t.TempDir(), "frontend.db")
			if tc.warm {
				status, _ := call(t, "GET", newFrontend(t, db, d, tc.edge)+"/", "", "", nil)
				if status != 200 {
					t.Fatalf("warming up: status %d", status)
				}
			}
			broken := &deps{catalogue: d.catalogue, carts: d.carts, orders: d.orders}
			switch tc.frozen {
			case "catalogue":
				broken.catalogue = frozen(t)
			case "carts":
				broken.carts = frozen(t)
			}
			url := newFrontend(t, db, broken, tc.edge)
			var p frontend.Page
			start := time.Now()
			status, body := call(t, "GET", url+"/", "", "", &p)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the page took %s, beyond its budget", took)
			}
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tc.wantStatus, body)
			}
			if status != 200 {
				return
			}
			if len(p.Items) != tc.wantItems || (p.CartCount != nil) != tc.wantCartKnown || !slices.Equal(p.Degraded, tc.wantDegraded) || p.Recommendations == nil {
				t.Errorf("page %s; want %d items, cart known %v, degraded %v", body, tc.wantItems, tc.wantCartKnown, tc.wantDegraded)
			}
		})
	}
}

func TestCheckout(t *testing.T) {
	d := upDeps(t)
	url := newFrontend(t, filepath.Join(t.TempDir(), "frontend.db"), d, resilience.Edge{})
	for _, step := range []struct {
		name, method, path, body string
		wantStatus               int
	}{
		{"named items", "POST", "/checkout", `{"customer":"alice","items":[{"itemId":"sock-3","quantity":2}]}`, 201},
		{"an empty cart", "POST", "/checkout", `{"customer":"bob"}`, 400},
		{"fill the cart", "POST", "/api/cart/items", `{"customer":"bob","itemId":"sock-1","quantity":3}`, 200},
		{"the cart", "POST", "/checkout", `{"customer":"bob"}`, 201},
		{"unknown item", "POST", "/checkout", `{"items":[{"itemId":"sock-99","quantity":1}]}`, 400},
		{"declined", "POST", "/checkout", `{"customer":"broke","items":[{"itemId":"sock-1","quantity":1}]}`, 402},
		{"not JSON", "POST", "/checkout", `items`, 400},
	} {
		if status, body := call(t, step.method, url+step.path, "", step.body, nil); status != step.wantStatus {
			t.Errorf("%s: status %d, want %d: %s", step.name, status, step.wantStatus, body)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.placed) != 3 {
		t.Fatalf("orders got %d orders, want 3: %+v", len(d.placed), d.placed)
	}
	want := []api.Line{{ItemID: "sock-3", Quantity: 2, UnitPriceCents: 1450}}
	if !slices.Equal(d.placed[0].Lines, want) {
		t.Errorf("first order %+v, want priced lines %+v", d.placed[0].Lines, want)
	}
	if d.placed[1].Customer != "bob" || !slices.Equal(d.placed[1].Lines, []api.Line{{ItemID: "sock-1", Quantity: 3, UnitPriceCents: 999}}) {
		t.Errorf("cart order %+v", d.placed[1])
	}
	if !strings.HasPrefix(d.keys[0], "checkout-") || d.keys[0] == d.keys[1] {
		t.Errorf("idempotency keys %q: want one per checkout", d.keys)
	}
	var cart api.Cart
	if call(t, "GET", url+"/api/cart?customer=bob", "", "", &cart); cart.Count != 0 {
		t.Errorf("bob's cart after checkout: %+v, want empty", cart)
	}
}

func TestCheckoutWithOrdersDown(t *testing.T) {
	d := upDeps(t)
	l := listen(t)
	l.Close() // a killed orders service
	d.orders = "http://" + l.Addr().String()
	url := newFrontend(t, filepath.Join(t.TempDir(), "frontend.db"), d, resilience.Edge{})
	status, body := call(t, "POST", url+"/checkout", "", `{"items":[{"itemId":"sock-1","quantity":1}]}`, nil)
	var e api.Error
	json.Unmarshal([]byte(body), &e)
	if status != http.StatusBadGateway || e.Dependency != "orders" {
		t.Errorf("status %d, body %s; want 502 naming orders", status, body)
	}
}
