// Package api holds what the demo shop's services say to each other over
// HTTP: the JSON types of their requests and answers, and the helpers that
// read and write them.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Item is one product of the catalogue.
type Item struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	PriceCents  int      `json:"priceCents"`
	Tags        []string `json:"tags"`
}

// Line is a quantity of one item, in a cart or an order.
type Line struct {
	ItemID         string `json:"itemId"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int    `json:"unitPriceCents,omitempty"`
}

// Cart is one customer's cart.
type Cart struct {
	Customer string `json:"customer"`
	Lines    []Line `json:"items"`
	Count    int    `json:"count"` // the sum of the quantities
}

// Order statuses, in the order an order normally goes through them.
const (
	OrderNew             = "new"              // stored, payment not yet asked
	OrderPaymentPending  = "payment_pending"  // payment unavailable: charged later (fallback)
	OrderPaid            = "paid"             // payment authorised, shipment not yet created
	OrderShippingPending = "shipping_pending" // shipping unavailable: shipped later (fallback)
	OrderShipped         = "shipped"          // complete
	OrderDeclined        = "declined"         // payment refused: final
	OrderFailed          = "failed"           // payment unavailable and no fallback: final
)

// Order is a placed order.
type Order struct {
	ID         int64  `json:"id"`
	Customer   string `json:"customer"`
	Lines      []Line `json:"items"`
	TotalCents int    `json:"totalCents"`
	Status     string `json:"status"`
	PaymentID  int64  `json:"paymentId,omitempty"`
	ShipmentID int64  `json:"shipmentId,omitempty"`
	Tracking   string `json:"tracking,omitempty"`
	CreatedAt  string `json:"createdAt"`
}

// PlaceOrder is the body of POST /api/orders (orders) and of POST
// /checkout (frontend, where Lines may be left out to order the cart).
type PlaceOrder struct {
	Customer string `json:"customer"`
	Lines    []Line `json:"items"`
}

// Payment is an authorisation for one order.
type Payment struct {
	ID          int64  `json:"id"`
	OrderID     int64  `json:"orderId"`
	Customer    string `json:"customer"`
	AmountCents int    `json:"amountCents"`
	Status      string `json:"status"` // authorized or declined
}

// Shipment is the delivery of one order.
type Shipment struct {
	ID       int64  `json:"id"`
	OrderID  int64  `json:"orderId"`
	Customer string `json:"customer"`
	Items    int    `json:"items"`
	Tracking string `json:"tracking"`
	Status   string `json:"status"`
}

// Error is the body of every error answer.
type Error struct {
	Error string `json:"error"`
	// Dependency names the service whose failure caused this one, if any.
	Dependency string `json:"dependency,omitempty"`
}

// maxBody bounds what a service reads of a request body.
const maxBody = 1 << 20

// Read decodes a JSON request body into v, refusing unknown fields and
// more than one value.
func Read(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request body: %w", err)
	}
	if dec.More() {
		return errors.New("bad request body: more than one JSON value")
	}
	return nil
}

// Write answers with status and v as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// WriteError answers with status and an Error body.
func WriteError(w http.ResponseWriter, status int, err error) {
	Write(w, status, Error{Error: err.Error()})
}

// NewMux registers routes (pattern → handler, in http.ServeMux's syntax)
// on a new ServeMux. Services describe their routes this way so that the
// shop can instrument each one and tests can serve them bare.
func NewMux(routes map[string]http.HandlerFunc) *http.ServeMux {
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.HandleFunc(pattern, h)
	}
	return mux
}
