package catalogue_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"

	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/examples/shop/catalogue"
	"github.com/faultline-dev/faultline/examples/shop/store"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "catalogue.db"), catalogue.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := httptest.NewServer(api.NewMux(catalogue.New(db, slog.New(slog.NewTextHandler(io.Discard, nil))).Routes()))
	t.Cleanup(srv.Close)
	return srv
}

func getItems(t *testing.T, url string) (int, []api.Item) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var items []api.Item
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&items); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, items
}

func ids(items []api.Item) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func TestListIsSeededAndSortedByName(t *testing.T) {
	srv := newServer(t)
	status, items := getItems(t, srv.URL+"/api/items")
	if status != http.StatusOK || len(items) != 8 {
		t.Fatalf("status %d, %d items; want 200 and the 8 seeded", status, len(items))
	}
	for i := 1; i < len(items); i++ {
		if items[i-1].Name > items[i].Name {
			t.Errorf("%q before %q", items[i-1].Name, items[i].Name)
		}
	}
	if items[0].PriceCents <= 0 || len(items[0].Tags) == 0 {
		t.Errorf("first item lacks a price or tags: %+v", items[0])
	}
}

func TestGet(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct {
		id   string
		want int
	}{{"sock-1", 200}, {"sock-404", 404}} {
		resp, err := http.Get(srv.URL + "/api/items/" + tc.id)
		if err != nil {
			t.Fatal(err)
		}
		var it api.Item
		json.NewDecoder(resp.Body).Decode(&it)
		resp.Body.Close()
		if resp.StatusCode != tc.want || tc.want == 200 && it.ID != tc.id {
			t.Errorf("GET %s: status %d, item %+v", tc.id, resp.StatusCode, it)
		}
	}
}

func TestRecommendations(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct {
		query      string
		wantStatus int
		want       []string
	}{
		{"", 200, []string{"sock-3", "sock-4", "sock-1"}},       // best ranked
		{"?n=1", 200, []string{"sock-3"}},                       //
		{"?item=sock-1&n=5", 200, []string{"sock-3", "sock-6"}}, // sport socks, not sock-1 itself
		{"?item=nosuch&n=2", 200, []string{"sock-3", "sock-4"}}, // unknown item: best ranked
		{"?n=0", 400, nil},
		{"?n=many", 400, nil},
	} {
		status, items := getItems(t, srv.URL+"/api/recommendations"+tc.query)
		if status != tc.wantStatus || tc.want != nil && !slices.Equal(ids(items), tc.want) {
			t.Errorf("%q: status %d, %v; want %d, %v", tc.query, status, ids(items), tc.wantStatus, tc.want)
		}
	}
}
