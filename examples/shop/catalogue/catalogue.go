// Package catalogue is the demo shop's product service: it lists the items
// for sale and recommends some of them.
package catalogue

import (
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/examples/shop/store"
)

// Migrations create and seed the catalogue's store.
var Migrations = []string{`
CREATE TABLE items (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	price_cents INTEGER NOT NULL,
	tags        TEXT NOT NULL, -- comma-separated
	rank        INTEGER NOT NULL -- lower is recommended first
);
INSERT INTO items VALUES
	('sock-1', 'Holy', 'Socks fit for a GameDay: the holes are features.', 999, 'black,sport', 3),
	('sock-2', 'Crossed', 'A pair for cross-functional teams.', 1250, 'blue,formal', 5),
	('sock-3', 'Figueroa', 'Green, warm and very steady-state.', 1450, 'green,sport', 1),
	('sock-4', 'Classic', 'The blue pair everybody runs in production.', 1299, 'blue,classic', 2),
	('sock-5', 'Colourful', 'Every colour, in case one fails.', 1800, 'rainbow,formal', 6),
	('sock-6', 'SuperSport', 'For the on-call sprint.', 1599, 'black,sport', 4),
	('sock-7', 'Cat', 'Nine lives, like a well-restarted service.', 1100, 'brown,fun', 7),
	('sock-8', 'Chaos', 'Mismatched on purpose.', 2200, 'rainbow,fun', 8);
`}

// Service answers the catalogue API from its store.
type Service struct {
	db  *sql.DB
	log *slog.Logger
}

// New returns the catalogue service over db (migrated with Migrations).
func New(db *sql.DB, log *slog.Logger) *Service { return &Service{db: db, log: log} }

// Routes are the catalogue's API:
//
//	GET /api/items                       every item, by name
//	GET /api/items/{id}                  one item (404 if unknown)
//	GET /api/recommendations?n=3&item=ID up to n items (1..10), the best
//	                                     ranked, sharing a tag with item if given
func (s *Service) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/items":           s.list,
		"GET /api/items/{id}":      s.get,
		"GET /api/recommendations": s.recommend,
	}
}

const columns = `id, name, description, price_cents, tags`

func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	items, err := s.query(r, `SELECT `+columns+` FROM items ORDER BY name`)
	if err != nil {
		s.fail(w, err)
		return
	}
	api.Write(w, http.StatusOK, items)
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	items, err := s.query(r, `SELECT `+columns+` FROM items WHERE id = ?`, r.PathValue("id"))
	switch {
	case err != nil:
		s.fail(w, err)
	case len(items) == 0:
		api.WriteError(w, http.StatusNotFound, fmt.Errorf("no item %q", r.PathValue("id")))
	default:
		api.Write(w, http.StatusOK, items[0])
	}
}

func (s *Service) recommend(w http.ResponseWriter, r *http.Request) {
	n := 3
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 10 {
			api.WriteError(w, http.StatusBadRequest, fmt.Errorf("n=%q: want a number from 1 to 10", v))
			return
		}
	}
	ranked, err := s.query(r, `SELECT `+columns+` FROM items ORDER BY rank`)
	if err != nil {
		s.fail(w, err)
		return
	}
	api.Write(w, http.StatusOK, recommend(ranked, r.URL.Query().Get("item"), n))
}

// recommend picks up to n of the ranked items: those sharing a tag with
// the item whose id is like (never that item itself), or, if like is
// empty or unknown, the best ranked.
func recommend(ranked []api.Item, like string, n int) []api.Item {
	i := slices.IndexFunc(ranked, func(it api.Item) bool { return it.ID == like })
	if i < 0 {
		return ranked[:min(n, len(ranked))]
	}
	tags := ranked[i].Tags
	out := []api.Item{}
	for _, it := range ranked {
		if it.ID != like && len(out) < n && slices.ContainsFunc(it.Tags, func(t string) bool { return slices.Contains(tags, t) }) {
			out = append(out, it)
		}
	}
	return out
}

func (s *Service) query(r *http.Request, q string, args ...any) ([]api.Item, error) {
	rows, err := s.db.QueryContext(r.Context(), q, args...)
	if err != nil {
		return nil, fmt.Errorf("query items: %w", err)
	}
	defer rows.Close()
	items := []api.Item{}
	for rows.Next() {
		var it api.Item
		var tags string
		if err := rows.Scan(&it.ID, &it.Name, &it.Description, &it.PriceCents, &tags); err != nil {
			return nil, fmt.Errorf("query items: %w", err)
		}
		it.Tags = strings.Split(tags, ",")
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query items: %w", err)
	}
	return items, nil
}

func (s *Service) fail(w http.ResponseWriter, err error) {
	s.log.Error("catalogue", "err", err)
	api.WriteError(w, store.HTTPStatus(err), err)
}
