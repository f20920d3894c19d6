// Package payment is the demo shop's payment service: it authorises one
// payment per order, idempotently, so that a caller may retry safely.
package payment

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

// Migrations create the payments' store.
var Migrations = []string{`
CREATE TABLE payments (
	id           INTEGER PRIMARY KEY,
	order_id     INTEGER NOT NULL UNIQUE,
	customer     TEXT NOT NULL,
	amount_cents INTEGER NOT NULL,
	status       TEXT NOT NULL,
	created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
`}

// Limit is the largest amount authorised; larger ones are declined.
const Limit = 100000

// Payment statuses.
const (
	Authorized = "authorized"
	Declined   = "declined"
)

// Service answers the payment API from its store.
type Service struct {
	db  *sql.DB
	log *slog.Logger
}

// New returns the payment service over db (migrated with Migrations).
func New(db *sql.DB, log *slog.Logger) *Service { return &Service{db: db, log: log} }

// Routes are the payment API:
//
//	POST /api/payments            authorise {"orderId", "customer", "amountCents"}:
//	                              201 authorized, 402 declined (over Limit); the
//	                              same order again answers the first decision
//	                              (200, or 402)
//	GET  /api/payments/{orderId}  the payment of an order (404 if none)
func (s *Service) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /api/payments":          s.authorise,
		"GET /api/payments/{orderId}": s.get,
	}
}

func (s *Service) authorise(w http.ResponseWriter, r *http.Request) {
	var p api.Payment
	if err := api.Read(r, &p); err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	if p.OrderID <= 0 || p.Customer == "" || p.AmountCents <= 0 {
		api.WriteError(w, http.StatusBadRequest, errors.New("want an orderId, a customer and a positive amountCents"))
		return
	}
	status := Authorized
	if p.AmountCents > Limit {
		status = Declined
	}
	res, err := s.db.ExecContext(r.Context(), `
		INSERT INTO payments (order_id, customer, amount_cents, status) VALUES (?, ?, ?, ?)
		ON CONFLICT (order_id) DO NOTHING`, p.OrderID, p.Customer, p.AmountCents, status)
	if err != nil {
		s.fail(w, fmt.Errorf("authorise order %d: %w", p.OrderID, err))
		return
	}
	created, _ := res.RowsAffected()
	stored, err := s.payment(r, p.OrderID)
	if err != nil {
		s.fail(w, err)
		return
	}
	switch {
	case stored.Status == Declined:
		api.Write(w, http.StatusPaymentRequired, api.Error{Error: fmt.Sprintf("payment of %d cents declined (over %d)", stored.AmountCents, Limit)})
	case created == 1:
		api.Write(w, http.StatusCreated, stored)
	default:
		api.Write(w, http.StatusOK, stored)
	}
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("orderId"), 10, 64)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, fmt.Errorf("order id %q: want a number", r.PathValue("orderId")))
		return
	}
	p, err := s.payment(r, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		api.WriteError(w, http.StatusNotFound, fmt.Errorf("no payment for order %d", id))
	case err != nil:
		s.fail(w, err)
	default:
		api.Write(w, http.StatusOK, p)
	}
}

func (s *Service) payment(r *http.Request, orderID int64) (api.Payment, error) {
	var p api.Payment
	err := s.db.QueryRowContext(r.Context(), `SELECT id, order_id, customer, amount_cents, status FROM payments WHERE order_id = ?`, orderID).
		Scan(&p.ID, &p.OrderID, &p.Customer, &p.AmountCents, &p.Status)
	if err != nil {
		return p, fmt.Errorf("read payment of order %d: %w", orderID, err)
	}
	return p, nil
}

func (s *Service) fail(w http.ResponseWriter, err error) {
	s.log.Error("payment", "err", err)
	api.WriteError(w, store.HTTPStatus(err), err)
}
