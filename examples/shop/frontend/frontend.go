// Package frontend is the demo shop's front door: the home page (the
// catalogue, recommendations and the customer's cart count), the cart and
// checkout. It calls catalogue, carts and orders; where its resilience
// policy allows a fallback it degrades instead of failing: the last good
// catalogue (kept in its store, so it survives a restart), no
// recommendations, an unknown cart count.
package frontend

import (
	"context"
	"crypto/rand"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/examples/shop/resilience"
)

// Migrations create the frontend's store: the last catalogue it read.
var Migrations = []string{`
CREATE TABLE catalogue_cache (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	items      TEXT NOT NULL, -- JSON
	fetched_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
`}

// Clients are the frontend's dependencies.
type Clients struct {
	Catalogue, Carts, Orders *resilience.Client
}

// Service serves the shop's front door.
type Service struct {
	db   *sql.DB
	deps Clients
	log  *slog.Logger

	mu    sync.Mutex
	items []byte // the last catalogue read, as JSON; nil if none yet
}

// New returns the frontend over db (migrated with Migrations), loading
// the catalogue it last read.
func New(ctx context.Context, db *sql.DB, deps Clients, log *slog.Logger) (*Service, error) {
	s := &Service{db: db, deps: deps, log: log}
	err := db.QueryRowContext(ctx, `SELECT items FROM catalogue_cache WHERE id = 1`).Scan(&s.items)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("load the cached catalogue: %w", err)
	}
	return s, nil
}

// Routes are the frontend's pages and API:
//
//	GET  /                 the home page: HTML for a browser, else JSON (Page)
//	GET  /api/items        the catalogue (the cached one if catalogue is down
//	                       and the edge has a fallback)
//	GET  /api/cart         ?customer= (default guest): the cart
//	POST /api/cart/items   add {"customer", "itemId", "quantity"} to a cart
//	POST /checkout         order {"customer", "items": [{"itemId", "quantity"}]};
//	                       without items, the customer's cart (then emptied).
//	                       Answers orders' answer: 201 shipped, 202 pending, …
func (s *Service) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /{$}":             s.home,
		"GET /api/items":       s.listItems,
		"GET /api/cart":        s.cart,
		"POST /api/cart/items": s.addToCart,
		"POST /checkout":       s.checkout,
	}
}

// Page is the home page's content.
type Page struct {
	Customer        string     `json:"customer"`
	Items           []api.Item `json:"items"`
	Recommendations []api.Item `json:"recommendations"`
	// CartCount is null when carts could not say (the "unknown" fallback).
	CartCount *int `json:"cartCount"`
	// Degraded names what the page does without: "catalogue" (the items
	// are the last good copy, or none), "recommendations", "cart".
	Degraded []string `json:"degraded"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func customerOf(v string) (string, error) {
	if v == "" {
		return "guest", nil
	}
	if !nameRE.MatchString(v) {
		return "", fmt.Errorf("customer %q: want 1 to 64 letters, digits, '_', '.' or '-'", v)
	}
	return v, nil
}

func (s *Service) home(w http.ResponseWriter, r *http.Request) {
	customer, err := customerOf(r.URL.Query().Get("customer"))
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	p := Page{Customer: customer, Degraded: []string{}}
	var itemsErr, recsErr, cartErr error
	var itemsStale bool
	var cart api.Cart
	var wg sync.WaitGroup
	wg.Go(func() { p.Items, itemsStale, itemsErr = s.catalogue(r.Context()) })
	wg.Go(func() {
		_, recsErr = s.deps.Catalogue.Do(r.Context(), resilience.Request{Method: http.MethodGet, Path: "/api/recommendations?n=3"}, &p.Recommendations)
	})
	wg.Go(func() {
		_, cartErr = s.deps.Carts.Do(r.Context(), resilience.Request{Method: http.MethodGet, Path: "/api/carts/" + customer}, &cart)
	})
	wg.Wait()
	for _, part := range []struct {
		name, dependency string
		err              error
		degraded         bool
		client           *resilience.Client
	}{
		{"catalogue", "catalogue", itemsErr, itemsStale, nil},
		{"recommendations", "catalogue", recsErr, false, s.deps.Catalogue},
		{"cart", "carts", cartErr, false, s.deps.Carts},
	} {
		switch {
		case part.degraded:
			p.Degraded = append(p.Degraded, part.name)
		case part.err == nil:
		case part.client != nil && part.client.Fallback(part.err):
			p.Degraded = append(p.Degraded, part.name)
		default:
			s.dependencyFailed(w, part.dependency, part.err)
			return
		}
	}
	if p.Recommendations == nil {
		p.Recommendations = []api.Item{}
	}
	if cartErr == nil {
		p.CartCount = &cart.Count
	}
	if wantsHTML(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := pageHTML.Execute(w, p); err != nil {
			s.log.Error("render the home page", "err", err)
		}
		return
	}
	api.Write(w, http.StatusOK, p)
}

// wantsHTML reports whether the client prefers HTML (a browser) to JSON.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

//go:embed page.html
var pageSource string

var pageHTML = template.Must(template.New("page").Funcs(template.FuncMap{
	"money": func(cents int) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) },
}).Parse(pageSource))

// catalogue reads the items from catalogue, keeping the last good copy;
// when catalogue is unavailable and the edge has a fallback it answers
// that copy (or no items) with stale set.
func (s *Service) catalogue(ctx context.Context) (items []api.Item, stale bool, err error) {
	var raw json.RawMessage
	_, err = s.deps.Catalogue.Do(ctx, resilience.Request{Method: http.MethodGet, Path: "/api/items"}, &raw)
	if err == nil {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, false, fmt.Errorf("catalogue items: %w", err)
		}
		s.remember(ctx, raw)
		return items, false, nil
	}
	if !s.deps.Catalogue.Fallback(err) {
		return nil, false, err
	}
	s.mu.Lock()
	cached := s.items
	s.mu.Unlock()
	items = []api.Item{}
	if cached != nil {
		if err := json.Unmarshal(cached, &items); err != nil {
			return nil, false, fmt.Errorf("cached catalogue: %w", err)
		}
	}
	return items, true, nil
}

// remember keeps items as the last good catalogue, writing the store only
// when they changed.
func (s *Service) remember(ctx context.Context, items []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if string(items) == string(s.items) {
		return
	}
	s.items = slices.Clone(items)
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO catalogue_cache (id, items) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET items = excluded.items, fetched_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`, s.items)
	if err != nil {
		s.log.Warn("keep the catalogue for later", "err", err)
	}
}

func (s *Service) listItems(w http.ResponseWriter, r *http.Request) {
	items, stale, err := s.catalogue(r.Context())
	if err != nil {
		s.dependencyFailed(w, "catalogue", err)
		return
	}
	if stale {
		w.Header().Set("Warning", `110 - "catalogue unavailable: the last good copy"`)
	}
	api.Write(w, http.StatusOK, items)
}

func (s *Service) cart(w http.ResponseWriter, r *http.Request) {
	customer, err := customerOf(r.URL.Query().Get("customer"))
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	var cart api.Cart
	if _, err := s.deps.Carts.Do(r.Context(), resilience.Request{Method: http.MethodGet, Path: "/api/carts/" + customer}, &cart); err != nil {
		s.dependencyFailed(w, "carts", err)
		return
	}
	api.Write(w, http.StatusOK, cart)
}

// cartLine is the body of POST /api/cart/items.
type cartLine struct {
	Customer string `json:"customer"`
	ItemID   string `json:"itemId"`
	Quantity int    `json:"quantity"`
}

func (s *Service) addToCart(w http.ResponseWriter, r *http.Request) {
	var l cartLine
	if err := api.Read(r, &l); err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	customer, err := customerOf(l.Customer)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	var cart api.Cart
	_, err = s.deps.Carts.Do(r.Context(), resilience.Request{Method: http.MethodPost, Path: "/api/carts/" + customer + "/items",
		Body: api.Line{ItemID: l.ItemID, Quantity: l.Quantity}}, &cart)
	if err != nil {
		s.dependencyFailed(w, "carts", err)
		return
	}
	api.Write(w, http.StatusOK, cart)
}

func (s *Service) checkout(w http.ResponseWriter, r *http.Request) {
	var req api.PlaceOrder
	if err := api.Read(r, &req); err != nil && !errors.Is(err, io.EOF) { // an empty body orders guest's cart
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	customer, err := customerOf(req.Customer)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	req.Customer = customer
	fromCart := len(req.Lines) == 0
	if fromCart {
		var cart api.Cart
		if _, err := s.deps.Carts.Do(r.Context(), resilience.Request{Method: http.MethodGet, Path: "/api/carts/" + customer}, &cart); err != nil {
			s.dependencyFailed(w, "carts", err)
			return
		}
		if len(cart.Lines) == 0 {
			api.WriteError(w, http.StatusBadRequest, fmt.Errorf("the cart of %s is empty: add items with POST /api/cart/items, or name them in \"items\"", customer))
			return
		}
		req.Lines = cart.Lines
	}
	items, stale, err := s.catalogue(r.Context())
	if err != nil {
		s.dependencyFailed(w, "catalogue", err)
		return
	}
	if stale && len(items) == 0 {
		api.Write(w, http.StatusServiceUnavailable, api.Error{Error: "catalogue unavailable and no copy of it kept: no prices to order at", Dependency: "catalogue"})
		return
	}
	if err := price(req.Lines, items); err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	var o api.Order
	// The key lets orders recognise a retry of this very checkout.
	header := http.Header{"Idempotency-Key": {"checkout-" + rand.Text()}}
	status, err := s.deps.Orders.Do(r.Context(), resilience.Request{Method: http.MethodPost, Path: "/api/orders", Header: header, Body: req}, &o)
	if err != nil {
		s.dependencyFailed(w, "orders", err)
		return
	}
	if fromCart {
		if _, err := s.deps.Carts.Do(r.Context(), resilience.Request{Method: http.MethodDelete, Path: "/api/carts/" + customer}, nil); err != nil {
			s.log.Warn("order placed but the cart not emptied", "order", o.ID, "customer", customer, "err", err)
		}
	}
	api.Write(w, status, o)
}

// price sets each line's unit price from the catalogue.
func price(lines []api.Line, items []api.Item) error {
	for i := range lines {
		j := slices.IndexFunc(items, func(it api.Item) bool { return it.ID == lines[i].ItemID })
		if j < 0 {
			return fmt.Errorf("items[%d]: no item %q in the catalogue", i, lines[i].ItemID)
		}
		lines[i].UnitPriceCents = items[j].PriceCents
	}
	return nil
}

// dependencyFailed answers a failed call: a dependency's refusal (4xx)
// as it was, an outage as 502, 503 (breaker open) or 504 (timeout).
func (s *Service) dependencyFailed(w http.ResponseWriter, dependency string, err error) {
	if !resilience.Refused(err) {
		s.log.Warn("dependency failed", "dependency", dependency, "err", err)
	}
	api.Write(w, resilience.Status(err), api.Error{Error: err.Error(), Dependency: dependency})
}
