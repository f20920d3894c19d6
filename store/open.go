package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

//go:embed migrations
var migrations embed.FS

// DefaultURL is the SQLite database under a state directory.
func DefaultURL(stateDir string) string {
	return "sqlite://" + filepath.Join(stateDir, "server.db")
}

// Open connects to the database named by rawURL — sqlite:///path/to/file.db
// or postgres://user:pass@host/db (postgresql:// too) — and migrates its
// schema to the latest version.
func Open(ctx context.Context, rawURL string, log *slog.Logger) (Store, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("open store %q: want sqlite:///path/to/server.db or postgres://user@host/db", redact(rawURL))
	}
	var (
		s   *sqlStore
		err error
	)
	switch scheme {
	case "sqlite":
		s, err = openSQLite(rest)
	case "postgres", "postgresql":
		s, err = openPostgres(rawURL)
	default:
		return nil, fmt.Errorf("open store %q: unknown scheme %q: use sqlite:// or postgres://", redact(rawURL), scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", redact(rawURL), err)
	}
	if err := s.migrate(ctx, log); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", redact(rawURL), err)
	}
	return s, nil
}

// redact hides a password in a database URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the database URL"
	}
	return u.Redacted()
}

// openSQLite opens path with two pools: one connection that writes (SQLite
// has one writer at a time; queuing in Go is cheaper than busy waits) and
// a few read-only ones, which WAL lets read while the writer writes.
func openSQLite(path string) (*sqlStore, error) {
	if path == "" {
		return nil, errors.New("no file: write sqlite:///path/to/server.db")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// Create the file private to the owner before SQLite creates it with
	// the umask's permissions.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	dsn := "file:" + strings.NewReplacer("?", "%3f", "#", "%23").Replace(path) +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	return &sqlStore{d: sqliteDialect, w: w, rdb: r, r: r, x: w}, nil
}

func openPostgres(rawURL string) (*sqlStore, error) {
	db, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &sqlStore{d: postgresDialect, w: db, r: db, x: db}, nil
}

// migrate applies the embedded migrations of the store's dialect. On
// PostgreSQL a session lock keeps two servers from migrating at once.
func (s *sqlStore) migrate(ctx context.Context, log *slog.Logger) error {
	sub, err := fs.Sub(migrations, "migrations/"+s.d.name)
	if err != nil {
		return err
	}
	var opts []goose.ProviderOption
	gd := goose.DialectSQLite3
	if s.d.name == "postgres" {
		gd = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, s.w, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	for _, r := range results {
		if log != nil {
			log.Info("schema migrated", "dialect", s.d.name, "version", r.Source.Version, "took", r.Duration)
		}
	}
	return nil
}
