package payment_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/examples/shop/payment"
	"github.com/faultline-dev/faultline/examples/shop/store"
)

func TestPayments(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "payment.db"), payment.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer(api.NewMux(payment.New(db, slog.New(slog.NewTextHandler(io.Discard, nil))).Routes()))
	defer srv.Close()
	for _, step := range []struct {
		name, method, path, body string
		wantStatus               int
		wantPaymentStatus        string
	}{
		{"authorise", "POST", "/api/payments", `{"orderId":1,"customer":"alice","amountCents":1999}`, 201, payment.Authorized},
		{"a retry gets the same answer", "POST", "/api/payments", `{"orderId":1,"customer":"alice","amountCents":1999}`, 200, payment.Authorized},
		{"read it back", "GET", "/api/payments/1", "", 200, payment.Authorized},
		{"over the limit", "POST", "/api/payments", `{"orderId":2,"customer":"bob","amountCents":100001}`, 402, ""},
		{"declined stays declined", "POST", "/api/payments", `{"orderId":2,"customer":"bob","amountCents":100001}`, 402, ""},
		{"the decline is kept", "GET", "/api/payments/2", "", 200, payment.Declined},
		{"no amount", "POST", "/api/payments", `{"orderId":3,"customer":"bob"}`, 400, ""},
		{"not JSON", "POST", "/api/payments", `orderId=3`, 400, ""},
		{"no such payment", "GET", "/api/payments/99", "", 404, ""},
		{"bad order id", "GET", "/api/payments/x", "", 400, ""},
	} {
		req, _ := http.NewRequest(step.method, srv.URL+step.path, strings.NewReader(step.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p api.Payment
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != step.wantStatus || step.wantPaymentStatus != "" && p.Status != step.wantPaymentStatus {
			t.Errorf("%s: status %d, payment %+v; want %d, %q", step.name, resp.StatusCode, p, step.wantStatus, step.wantPaymentStatus)
		}
		if step.wantStatus == 200 && step.method == "POST" && p.ID != 1 {
			t.Errorf("%s: a retry created payment %d", step.name, p.ID)
		}
	}
}
