package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/faultline-dev/faultline/examples/shop/store"
)

func TestOpenMigratesOnceInWALMode(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "test.db")
	migrations := []string{
		`CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);`,
		`INSERT INTO t VALUES (2);`,
	}
	for range 2 { // the second open finds both applied and runs nothing
		db, err := store.Open(ctx, path, migrations)
		if err != nil {
			t.Fatal(err)
		}
		var n, version int
		var mode string
		if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		db.QueryRow("PRAGMA user_version").Scan(&version)
		db.QueryRow("PRAGMA journal_mode").Scan(&mode)
		if n != 2 || version != 2 || mode != "wal" {
			t.Errorf("rows %d, version %d, journal %q; want 2, 2, wal", n, version, mode)
		}
		if err := store.Ping(ctx, db); err != nil {
			t.Error(err)
		}
		db.Close()
	}
	// A new migration appended later runs on the next open.
	db, err := store.Open(ctx, path, append(migrations, `INSERT INTO t VALUES (3);`))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.QueryRow("SELECT count(*) FROM t").Scan(&n)
	if n != 3 {
		t.Errorf("rows %d after a third migration, want 3", n)
	}
}

func TestOpenRollsBackAFailedMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	_, err := store.Open(context.Background(), path, []string{`CREATE TABLE t (v INTEGER);`, `INSERT INTO nosuch VALUES (1);`})
	if err == nil {
		t.Fatal("a broken migration was accepted")
	}
	db, err := store.Open(context.Background(), path, []string{`CREATE TABLE t (v INTEGER);`})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	db.QueryRow("PRAGMA user_version").Scan(&version)
	if version != 1 {
		t.Errorf("version %d after the failed second migration, want 1", version)
	}
}
