// Package shipping is the demo shop's shipping service: it creates one
// shipment per order, idempotently, so that a caller may retry safely.
package shipping

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/examples/shop/store"
)

// Migrations create the shipments' store.
var Migrations = []string{`
CREATE TABLE shipments (
	id         INTEGER PRIMARY KEY,
	order_id   INTEGER NOT NULL UNIQUE,
	customer   TEXT NOT NULL,
	items      INTEGER NOT NULL,
	status     TEXT NOT NULL DEFAULT 'created',
	created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
`}

// Service answers the shipping API from its store.
type Service struct {
	db  *sql.DB
	log *slog.Logger
}

// New returns the shipping service over db (migrated with Migrations).
func New(db *sql.DB, log *slog.Logger) *Service { return &Service{db: db, log: log} }

// Routes are the shipping API:
//
//	POST /api/shipments            ship {"orderId", "customer", "items"}: 201 with
//	                               a tracking number; the same order again
//	                               answers the same shipment (200)
//	GET  /api/shipments/{orderId}  the shipment of an order (404 if none)
func (s *Service) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /api/shipments":          s.create,
		"GET /api/shipments/{orderId}": s.get,
	}
}

func (s *Service) create(w http.ResponseWriter, r *http.Request) {
	var sh api.Shipment
	if err := api.Read(r, &sh); err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	if sh.OrderID <= 0 || sh.Customer == "" || sh.Items <= 0 {
		api.WriteError(w, http.StatusBadRequest, errors.New("want an orderId, a customer and a positive number of items"))
		return
	}
	res, err := s.db.ExecContext(r.Context(), `
		INSERT INTO shipments (order_id, customer, items) VALUES (?, ?, ?)
		ON CONFLICT (order_id) DO NOTHING`, sh.OrderID, sh.Customer, sh.Items)
	if err != nil {
		s.fail(w, fmt.Errorf("ship order %d: %w", sh.OrderID, err))
		return
	}
	created, _ := res.RowsAffected()
	stored, err := s.shipment(r, sh.OrderID)
	if err != nil {
		s.fail(w, err)
		return
	}
	status := http.StatusOK
	if created == 1 {
		status = http.StatusCreated
	}
	api.Write(w, status, stored)
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("orderId"), 10, 64)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, fmt.Errorf("order id %q: want a number", r.PathValue("orderId")))
		return
	}
	sh, err := s.shipment(r, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		api.WriteError(w, http.StatusNotFound, fmt.Errorf("no shipment for order %d", id))
	case err != nil:
		s.fail(w, err)
	default:
		api.Write(w, http.StatusOK, sh)
	}
}

func (s *Service) shipment(r *http.Request, orderID int64) (api.Shipment, error) {
	var sh api.Shipment
	err := s.db.QueryRowContext(r.Context(), `SELECT id, order_id, customer, items, status FROM shipments WHERE order_id = ?`, orderID).
		Scan(&sh.ID, &sh.OrderID, &sh.Customer, &sh.Items, &sh.Status)
	if err != nil {
		return sh, fmt.Errorf("read shipment of order %d: %w", orderID, err)
	}
	sh.Tracking = fmt.Sprintf("FL%08d", sh.ID)
	return sh, nil
}

func (s *Service) fail(w http.ResponseWriter, err error) {
	s.log.Error("shipping", "err", err)
	api.WriteError(w, store.HTTPStatus(err), err)
}
