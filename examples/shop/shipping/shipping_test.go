package shipping_test

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
	"github.com/faultline-dev/faultline/examples/shop/shipping"
	"github.com/faultline-dev/faultline/examples/shop/store"
)

func TestShipments(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "shipping.db"), shipping.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer(api.NewMux(shipping.New(db, slog.New(slog.NewTextHandler(io.Discard, nil))).Routes()))
	defer srv.Close()
	for _, step := range []struct {
		name, method, path, body string
		wantStatus               int
		wantTracking             string
	}{
		{"ship", "POST", "/api/shipments", `{"orderId":7,"customer":"alice","items":3}`, 201, "FL00000001"},
		{"a retry gets the same shipment", "POST", "/api/shipments", `{"orderId":7,"customer":"alice","items":3}`, 200, "FL00000001"},
		{"another order", "POST", "/api/shipments", `{"orderId":8,"customer":"bob","items":1}`, 201, "FL00000002"},
		{"read it back", "GET", "/api/shipments/7", "", 200, "FL00000001"},
		{"no items", "POST", "/api/shipments", `{"orderId":9,"customer":"bob","items":0}`, 400, ""},
		{"no such shipment", "GET", "/api/shipments/99", "", 404, ""},
	} {
		req, _ := http.NewRequest(step.method, srv.URL+step.path, strings.NewReader(step.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var sh api.Shipment
		json.NewDecoder(resp.Body).Decode(&sh)
		resp.Body.Close()
		if resp.StatusCode != step.wantStatus || sh.Tracking != step.wantTracking {
			t.Errorf("%s: status %d, shipment %+v; want %d, tracking %q", step.name, resp.StatusCode, sh, step.wantStatus, step.wantTracking)
		}
	}
}
