// Package carts is the demo shop's cart service: one cart per customer,
// kept in its store, so that a full disk under the store shows as failed
// writes (507) while reads go on.
package carts

import (
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/examples/shop/store"
)

// Migrations create the carts' store.
var Migrations = []string{`
CREATE TABLE cart_items (
	customer TEXT NOT NULL,
	item_id  TEXT NOT NULL,
	quantity INTEGER NOT NULL CHECK (quantity > 0),
	PRIMARY KEY (customer, item_id)
);
`}

// Service answers the carts API from its store.
type Service struct {
	db  *sql.DB
	log *slog.Logger
}

// New returns the carts service over db (migrated with Migrations).
func New(db *sql.DB, log *slog.Logger) *Service { return &Service{db: db, log: log} }

// Routes are the carts API:
//
//	GET    /api/carts/{customer}        the cart (empty if none)
//	POST   /api/carts/{customer}/items  add {"itemId", "quantity"}; answers the cart
//	DELETE /api/carts/{customer}        empty the cart (204)
func (s *Service) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/carts/{customer}":        s.get,
		"POST /api/carts/{customer}/items": s.add,
		"DELETE /api/carts/{customer}":     s.clear,
	}
}

// MaxQuantity bounds the quantity of one item in a cart.
const MaxQuantity = 100

// nameRE is what customer names and item ids may be.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func customer(w http.ResponseWriter, r *http.Request) (string, bool) {
	c := r.PathValue("customer")
	if !nameRE.MatchString(c) {
		api.WriteError(w, http.StatusBadRequest, fmt.Errorf("customer %q: want 1 to 64 letters, digits, '_', '.' or '-'", c))
		return "", false
	}
	return c, true
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	c, ok := customer(w, r)
	if !ok {
		return
	}
	cart, err := s.cart(r, c)
	if err != nil {
		s.fail(w, err)
		return
	}
	api.Write(w, http.StatusOK, cart)
}

func (s *Service) add(w http.ResponseWriter, r *http.Request) {
	c, ok := customer(w, r)
	if !ok {
		return
	}
	var l api.Line
	if err := api.Read(r, &l); err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	if !nameRE.MatchString(l.ItemID) || l.Quantity < 1 || l.Quantity > MaxQuantity {
		api.WriteError(w, http.StatusBadRequest, fmt.Errorf("want an itemId and a quantity from 1 to %d", MaxQuantity))
		return
	}
	_, err := s.db.ExecContext(r.Context(), `
		INSERT INTO cart_items (customer, item_id, quantity) VALUES (?, ?, ?)
		ON CONFLICT (customer, item_id) DO UPDATE SET quantity = min(quantity + excluded.quantity, ?)`,
		c, l.ItemID, l.Quantity, MaxQuantity)
	if err != nil {
		s.fail(w, fmt.Errorf("add to the cart of %s: %w", c, err))
		return
	}
	cart, err := s.cart(r, c)
	if err != nil {
		s.fail(w, err)
		return
	}
	api.Write(w, http.StatusOK, cart)
}

func (s *Service) clear(w http.ResponseWriter, r *http.Request) {
	c, ok := customer(w, r)
	if !ok {
		return
	}
	if _, err := s.db.ExecContext(r.Context(), `DELETE FROM cart_items WHERE customer = ?`, c); err != nil {
		s.fail(w, fmt.Errorf("empty the cart of %s: %w", c, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) cart(r *http.Request, c string) (api.Cart, error) {
	rows, err := s.db.QueryContext(r.Context(), `SELECT item_id, quantity FROM cart_items WHERE customer = ? ORDER BY item_id`, c)
	if err != nil {
		return api.Cart{}, fmt.Errorf("read the cart of %s: %w", c, err)
	}
	defer rows.Close()
	cart := api.Cart{Customer: c, Lines: []api.Line{}}
	for rows.Next() {
		var l api.Line
		if err := rows.Scan(&l.ItemID, &l.Quantity); err != nil {
			return api.Cart{}, fmt.Errorf("read the cart of %s: %w", c, err)
		}
		cart.Lines = append(cart.Lines, l)
		cart.Count += l.Quantity
	}
	if err := rows.Err(); err != nil {
		return api.Cart{}, fmt.Errorf("read the cart of %s: %w", c, err)
	}
	return cart, nil
}

func (s *Service) fail(w http.ResponseWriter, err error) {
	s.log.Error("carts", "err", err)
	api.WriteError(w, store.HTTPStatus(err), err)
}
