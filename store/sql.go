package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect is what differs between SQLite and PostgreSQL in the queries.
type dialect struct {
	name string
	// dollar rewrites ? placeholders to $1, $2, …
	dollar bool
	// time is how a time is passed as a query argument.
	time func(time.Time) any
}

// sqliteTime is a fixed-width UTC text, so times compare as text.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

var (
	sqliteDialect   = dialect{name: "sqlite", time: func(t time.Time) any { return t.UTC().Format(sqliteTime) }}
	postgresDialect = dialect{name: "postgres", dollar: true, time: func(t time.Time) any { return t.UTC().Truncate(time.Microsecond) }}
)

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlStore implements Store for both dialects. Outside a transaction it
// reads through r and writes through x; inside one both are the tx.
type sqlStore struct {
	d   dialect
	w   *sql.DB // the pool that writes and runs transactions
	rdb *sql.DB // a separate read pool (SQLite), else nil
	r   querier
	x   querier
	tx  *sql.Tx
}

func (s *sqlStore) Dialect() string { return s.d.name }

func (s *sqlStore) Close() error {
	if s.tx != nil {
		return errors.New("store: Close inside a transaction")
	}
	err := s.w.Close()
	if s.rdb != nil {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

func (s *sqlStore) Update(ctx context.Context, fn func(tx Store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	in := &sqlStore{d: s.d, w: s.w, r: tx, x: tx, tx: tx}
	if err := fn(in); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// q rewrites placeholders for the dialect.
func (s *sqlStore) q(query string) string {
	if !s.d.dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (s *sqlStore) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.x.ExecContext(ctx, s.q(query), args...)
}

func (s *sqlStore) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.r.QueryContext(ctx, s.q(query), args...)
}

func (s *sqlStore) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return s.r.QueryRowContext(ctx, s.q(query), args...)
}

// writeRow runs a writing query that returns a row (RETURNING).
func (s *sqlStore) writeRow(ctx context.Context, query string, args ...any) *sql.Row {
	return s.x.QueryRowContext(ctx, s.q(query), args...)
}

// t is a time argument; the zero time is NULL.
func (s *sqlStore) t(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.d.time(t)
}

// dbTime scans a time column of either dialect; NULL is the zero time.
type dbTime struct{ t *time.Time }

func (d dbTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		*d.t = x.UTC()
	case string:
		return d.parse(x)
	case []byte:
		return d.parse(string(x))
	default:
		return fmt.Errorf("store: cannot read a time from %T", v)
	}
	return nil
}

func (d dbTime) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("store: read time %q: %w", s, err)
	}
	*d.t = t.UTC()
	return nil
}

func tm(t *time.Time) dbTime { return dbTime{t} }

// dbJSON scans a JSON column (text in SQLite, json in PostgreSQL) into a
// Go value; NULL leaves it as it is.
type dbJSON struct{ v any }

func (d dbJSON) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("store: cannot read JSON from %T", v)
	}
	if raw, ok := d.v.(*json.RawMessage); ok {
		*raw = append(json.RawMessage(nil), b...)
		return nil
	}
	if err := json.Unmarshal(b, d.v); err != nil {
		return fmt.Errorf("store: read JSON: %w", err)
	}
	return nil
}

func js(v any) dbJSON { return dbJSON{v} }

// jsonArg is a Go value as a JSON text argument; nil pointers and empty raw
// messages are NULL.
func jsonArg(v any) (any, error) {
	switch x := v.(type) {
	case json.RawMessage:
		if len(x) == 0 {
			return nil, nil
		}
		return string(x), nil
	case *AgentSelector:
		if x == nil {
			return nil, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode JSON: %w", err)
	}
	return string(b), nil
}

// mustJSON encodes values the store itself builds (maps, slices), which
// cannot fail to encode.
func mustJSON(v any) any {
	a, err := jsonArg(v)
	if err != nil {
		panic(err)
	}
	return a
}

func notFound(what, id string) error { return fmt.Errorf("%s %q: %w", what, id, ErrNotFound) }

// affected turns "no row changed" into ErrNotFound.
func affected(res sql.Result, err error, what, id string) error {
	if err != nil {
		return fmt.Errorf("store: %s %q: %w", what, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s %q: %w", what, id, err)
	}
	if n == 0 {
		return notFound(what, id)
	}
	return nil
}

// isUnique reports a unique-constraint violation in either dialect.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// inList is "(?, ?, …)" for n values.
func inList(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

func limitOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// now is UTC to the microsecond, which both databases keep, so what a
// method returns equals what a later read gives.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
