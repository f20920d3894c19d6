package carts_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/examples/shop/carts"
	"github.com/faultline-dev/faultline/examples/shop/store"
)

func newServer(t *testing.T) (*httptest.Server, *sql.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "carts.db"), carts.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := httptest.NewServer(api.NewMux(carts.New(db, slog.New(slog.NewTextHandler(io.Discard, nil))).Routes()))
	t.Cleanup(srv.Close)
	return srv, db
}

func do(t *testing.T, method, url, body string) (int, api.Cart) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c api.Cart
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, c
}

func TestCartLifecycle(t *testing.T) {
	srv, _ := newServer(t)
	cart := srv.URL + "/api/carts/alice"
	for _, step := range []struct {
		method, path, body string
		wantStatus         int
		wantCount          int
	}{
		{"GET", "", "", 200, 0},
		{"POST", "/items", `{"itemId":"sock-1","quantity":2}`, 200, 2},
		{"POST", "/items", `{"itemId":"sock-1","quantity":1}`, 200, 3},
		{"POST", "/items", `{"itemId":"sock-2","quantity":1}`, 200, 4},
		{"POST", "/items", `{"itemId":"sock-2","quantity":100}`, 200, 103}, // capped at 100 of one item
		{"GET", "", "", 200, 103},
		{"POST", "/items", `{"itemId":"sock-1","quantity":0}`, 400, 0},
		{"POST", "/items", `{"itemId":"","quantity":1}`, 400, 0},
		{"POST", "/items", `{"itemId":"sock-1","quantity":1,"colour":"red"}`, 400, 0},
		{"DELETE", "", "", 204, 0},
		{"GET", "", "", 200, 0},
	} {
		status, c := do(t, step.method, cart+step.path, step.body)
		if status != step.wantStatus || status == 200 && c.Count != step.wantCount {
			t.Fatalf("%s %s %s: status %d, count %d; want %d, %d", step.method, step.path, step.body, status, c.Count, step.wantStatus, step.wantCount)
		}
	}
	if status, _ := do(t, "GET", srv.URL+"/api/carts/no%20such", ""); status != 400 {
		t.Errorf("a bad customer name: status %d, want 400", status)
	}
}

// A full disk makes writes fail with 507 while reads go on. SQLite answers
// SQLITE_FULL at max_page_count just as on a full disk; the pragma is per
// connection, so the pool is cut to one.
func TestFullStoreRefusesWritesWith507AndKeepsReading(t *testing.T) {
	srv, db := newServer(t)
	do(t, "POST", srv.URL+"/api/carts/alice/items", `{"itemId":"sock-1","quantity":1}`)
	db.SetMaxOpenConns(1)
	var pages int
	if err := db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA max_page_count = " + strconv.Itoa(pages)); err != nil {
		t.Fatal(err)
	}
	full := false
	for i := 0; i < 2000 && !full; i++ {
		status, _ := do(t, "POST", srv.URL+"/api/carts/customer-"+strconv.Itoa(i)+"/items", `{"itemId":"sock-with-a-long-name-to-fill-pages","quantity":1}`)
		switch status {
		case http.StatusOK:
		case http.StatusInsufficientStorage:
			full = true
		default:
			t.Fatalf("write %d: status %d, want 200 until the store is full, then 507", i, status)
		}
	}
	if !full {
		t.Fatal("the store never filled up")
	}
	if status, c := do(t, "GET", srv.URL+"/api/carts/alice", ""); status != 200 || c.Count != 1 {
		t.Errorf("read on a full store: status %d, count %d; want 200, 1", status, c.Count)
	}
}
