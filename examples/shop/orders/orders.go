// Package orders is the demo shop's order service: it stores an order,
// has payment authorise it and shipping ship it. When its resilience
// policy allows a fallback, an order whose payment or shipment cannot be
// made now is accepted as pending (202) and completed in the background
// once the dependency is back.
package orders

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/examples/shop/resilience"
	"github.com/faultline-dev/faultline/examples/shop/store"
)

// Migrations create the orders' store.
var Migrations = []string{`
CREATE TABLE orders (
	id              INTEGER PRIMARY KEY,
	idempotency_key TEXT UNIQUE,
	customer        TEXT NOT NULL,
	lines           TEXT NOT NULL, -- JSON
	total_cents     INTEGER NOT NULL,
	status          TEXT NOT NULL,
	payment_id      INTEGER NOT NULL DEFAULT 0,
	shipment_id     INTEGER NOT NULL DEFAULT 0,
	tracking        TEXT NOT NULL DEFAULT '',
	created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_customer ON orders (customer);
`}

// Limits of one order.
const (
	MaxLines    = 20
	MaxQuantity = 100
)

// Service answers the orders API from its store.
type Service struct {
	db                *sql.DB
	payment, shipping *resilience.Client
	log               *slog.Logger
	placed            *prometheus.CounterVec
	pending           *prometheus.GaugeVec
}

// New returns the orders service over db (migrated with Migrations),
// calling payment and shipping through the given clients; its metrics
// are registered on reg.
func New(db *sql.DB, payment, shipping *resilience.Client, reg prometheus.Registerer, log *slog.Logger) *Service {
	s := &Service{
		db: db, payment: payment, shipping: shipping, log: log,
		placed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_orders_placed_total",
			Help: "Orders placed, by the status they had when POST /api/orders answered.",
		}, []string{"status"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shop_orders_pending",
			Help: "Orders waiting to be completed in the background, by status (payment_pending, shipping_pending).",
		}, []string{"status"}),
	}
	reg.MustRegister(s.placed, s.pending)
	return s
}

// Routes are the orders API:
//
//	POST /api/orders       place {"customer", "items": [{"itemId", "quantity",
//	                       "unitPriceCents"}]}; an Idempotency-Key header makes a
//	                       repeat answer the first order. 201 shipped, 202 accepted
//	                       and pending, 402 payment declined, 502/503/504 a
//	                       dependency failed (the body's "dependency" says which)
//	GET  /api/orders/{id}  one order
//	GET  /api/orders       the latest 100, filtered by ?customer= and ?status=
func (s *Service) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /api/orders":     s.place,
		"GET /api/orders/{id}": s.get,
		"GET /api/orders":      s.list,
	}
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	keyRE  = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

// validate checks an order and returns its total.
func validate(o api.PlaceOrder) (int, error) {
	if !nameRE.MatchString(o.Customer) {
		return 0, fmt.Errorf("customer %q: want 1 to 64 letters, digits, '_', '.' or '-'", o.Customer)
	}
	if len(o.Lines) == 0 || len(o.Lines) > MaxLines {
		return 0, fmt.Errorf("want 1 to %d items, got %d", MaxLines, len(o.Lines))
	}
	total := 0
	for i, l := range o.Lines {
		if !nameRE.MatchString(l.ItemID) || l.Quantity < 1 || l.Quantity > MaxQuantity || l.UnitPriceCents < 1 || l.UnitPriceCents > 1_000_000 {
			return 0, fmt.Errorf("items[%d]: want an itemId, a quantity from 1 to %d and a unitPriceCents from 1 to 1000000", i, MaxQuantity)
		}
		total += l.Quantity * l.UnitPriceCents
	}
	return total, nil
}

func (s *Service) place(w http.ResponseWriter, r *http.Request) {
	var req api.PlaceOrder
	if err := api.Read(r, &req); err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	total, err := validate(req)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key != "" && !keyRE.MatchString(key) {
		api.WriteError(w, http.StatusBadRequest, errors.New("Idempotency-Key: want 1 to 128 letters, digits or _.:-"))
		return
	}
	// The order's fate no longer depends on the caller waiting for it: a
	// caller that gives up does not leave it half done.
	ctx := context.WithoutCancel(r.Context())
	o, created, err := s.insert(ctx, key, req, total)
	if err != nil {
		s.fail(w, err)
		return
	}
	if created {
		err = s.advance(ctx, &o, false)
		s.placed.WithLabelValues(o.Status).Inc()
	}
	var dep *depError
	switch {
	case errors.As(err, &dep):
		s.log.Warn("order not completed", "order", o.ID, "status", o.Status, "err", err)
		api.Write(w, resilience.Status(dep.err), api.Error{Error: fmt.Sprintf("order %d %s: %v", o.ID, o.Status, dep.err), Dependency: dep.dependency})
	case err != nil:
		s.fail(w, err)
	case o.Status == api.OrderDeclined:
		api.Write(w, http.StatusPaymentRequired, api.Error{Error: fmt.Sprintf("order %d: payment declined", o.ID), Dependency: "payment"})
	case o.Status == api.OrderShipped:
		api.Write(w, http.StatusCreated, o)
	default: // pending, or a repeat of an order still in progress
		api.Write(w, http.StatusAccepted, o)
	}
}

// depError is a dependency's failure that left an order incomplete.
type depError struct {
	dependency string
	err        error
}

func (e *depError) Error() string { return e.err.Error() }
func (e *depError) Unwrap() error { return e.err }

// advance moves o on as far as its dependencies let it: payment, then
// shipping. When a dependency is unavailable, o becomes pending if the
// edge has a fallback; otherwise a payment failure fails the order and a
// shipping failure leaves it paid, and advance returns a *depError. In the
// background (resuming pending orders) o simply stays as it is.
func (s *Service) advance(ctx context.Context, o *api.Order, background bool) error {
	if o.Status == api.OrderNew || o.Status == api.OrderPaymentPending {
		var p api.Payment
		_, err := s.payment.Do(ctx, resilience.Request{Method: http.MethodPost, Path: "/api/payments",
			Body: api.Payment{OrderID: o.ID, Customer: o.Customer, AmountCents: o.TotalCents}}, &p)
		var se *resilience.StatusError
		switch {
		case err == nil:
			o.Status, o.PaymentID = api.OrderPaid, p.ID
		case errors.As(err, &se) && se.Status == http.StatusPaymentRequired:
			o.Status = api.OrderDeclined
		case background:
			return &depError{"payment", err}
		case s.payment.Fallback(err):
			o.Status = api.OrderPaymentPending
		default:
			o.Status = api.OrderFailed
			if serr := s.save(ctx, o); serr != nil {
				return serr
			}
			return &depError{"payment", err}
		}
		if err := s.save(ctx, o); err != nil {
			return err
		}
	}
	if o.Status == api.OrderPaid || o.Status == api.OrderShippingPending {
		items := 0
		for _, l := range o.Lines {
			items += l.Quantity
		}
		var sh api.Shipment
		_, err := s.shipping.Do(ctx, resilience.Request{Method: http.MethodPost, Path: "/api/shipments",
			Body: api.Shipment{OrderID: o.ID, Customer: o.Customer, Items: items}}, &sh)
		switch {
		case err == nil:
			o.Status, o.ShipmentID, o.Tracking = api.OrderShipped, sh.ID, sh.Tracking
		case background:
			return &depError{"shipping", err}
		case s.shipping.Fallback(err):
			o.Status = api.OrderShippingPending
		default:
			return &depError{"shipping", err}
		}
		if err := s.save(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// Work completes pending orders every interval until ctx ends, oldest
// first, stopping a round at the first dependency still unavailable.
func (s *Service) Work(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.resume(ctx); err != nil && ctx.Err() == nil {
				s.log.Debug("pending orders wait", "err", err)
			}
		}
	}
}

// resumeBatch bounds the orders one round of Work takes on.
const resumeBatch = 20

func (s *Service) resume(ctx context.Context) error {
	pending, err := s.query(ctx, `WHERE status IN (?, ?) ORDER BY id LIMIT ?`, api.OrderPaymentPending, api.OrderShippingPending, resumeBatch)
	if err != nil {
		return err
	}
	for i := range pending {
		if err := s.advance(ctx, &pending[i], true); err != nil {
			break
		}
		s.log.Info("pending order completed", "order", pending[i].ID, "status", pending[i].Status)
	}
	return s.countPending(ctx)
}

func (s *Service) countPending(ctx context.Context) error {
	for _, st := range []string{api.OrderPaymentPending, api.OrderShippingPending} {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE status = ?`, st).Scan(&n); err != nil {
			return fmt.Errorf("count pending orders: %w", err)
		}
		s.pending.WithLabelValues(st).Set(float64(n))
	}
	return nil
}

// insert stores a new order, or with a key already used finds the order
// that key placed (created is then false).
func (s *Service) insert(ctx context.Context, key string, req api.PlaceOrder, total int) (o api.Order, created bool, err error) {
	lines, err := json.Marshal(req.Lines)
	if err != nil {
		return o, false, fmt.Errorf("store order: %w", err)
	}
	var k any
	if key != "" {
		k = key
	}
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO orders (idempotency_key, customer, lines, total_cents, status) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (idempotency_key) DO NOTHING`, k, req.Customer, lines, total, api.OrderNew)
	if err != nil {
		return o, false, fmt.Errorf("store order: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		found, err := s.query(ctx, `WHERE idempotency_key = ?`, key)
		if err != nil || len(found) == 0 {
			return o, false, fmt.Errorf("find the order of key %q: %w", key, errors.Join(err, sql.ErrNoRows))
		}
		return found[0], false, nil
	}
	id, err := res.LastInsertId()
	if err != nil {
		return o, false, fmt.Errorf("store order: %w", err)
	}
	found, err := s.query(ctx, `WHERE id = ?`, id)
	if err != nil || len(found) == 0 {
		return o, false, fmt.Errorf("read back order %d: %w", id, errors.Join(err, sql.ErrNoRows))
	}
	return found[0], true, nil
}

func (s *Service) save(ctx context.Context, o *api.Order) error {
	_, err := s.db.ExecContext(ctx, `UPDATE orders SET status = ?, payment_id = ?, shipment_id = ?, tracking = ? WHERE id = ?`,
		o.Status, o.PaymentID, o.ShipmentID, o.Tracking, o.ID)
	if err != nil {
		return fmt.Errorf("save order %d: %w", o.ID, err)
	}
	return nil
}

func (s *Service) query(ctx context.Context, where string, args ...any) ([]api.Order, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, customer, lines, total_cents, status, payment_id, shipment_id, tracking, created_at FROM orders `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query orders: %w", err)
	}
	defer rows.Close()
	out := []api.Order{}
	for rows.Next() {
		var o api.Order
		var lines []byte
		if err := rows.Scan(&o.ID, &o.Customer, &lines, &o.TotalCents, &o.Status, &o.PaymentID, &o.ShipmentID, &o.Tracking, &o.CreatedAt); err != nil {
			return nil, fmt.Errorf("query orders: %w", err)
		}
		if err := json.Unmarshal(lines, &o.Lines); err != nil {
			return nil, fmt.Errorf("order %d: lines: %w", o.ID, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query orders: %w", err)
	}
	return out, nil
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, fmt.Errorf("order id %q: want a number", r.PathValue("id")))
		return
	}
	found, err := s.query(r.Context(), `WHERE id = ?`, id)
	switch {
	case err != nil:
		s.fail(w, err)
	case len(found) == 0:
		api.WriteError(w, http.StatusNotFound, fmt.Errorf("no order %d", id))
	default:
		api.Write(w, http.StatusOK, found[0])
	}
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	where, args := `WHERE 1`, []any{}
	for _, f := range []string{"customer", "status"} {
		if v := r.URL.Query().Get(f); v != "" {
			where += " AND " + f + " = ?" // f is one of the two names above
			args = append(args, v)
		}
	}
	found, err := s.query(r.Context(), where+` ORDER BY id DESC LIMIT 100`, args...)
	if err != nil {
		s.fail(w, err)
		return
	}
	api.Write(w, http.StatusOK, found)
}

func (s *Service) fail(w http.ResponseWriter, err error) {
	s.log.Error("orders", "err", err)
	api.WriteError(w, store.HTTPStatus(err), err)
}
