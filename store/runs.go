package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

func (s *sqlStore) CreateRun(ctx context.Context, r Run) error {
	agents, err := jsonArg(r.Agents)
	if err != nil {
		return err
	}
	journal, err := jsonArg(r.Journal)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO runs (id, experiment, version, document, status, reason, dry_run, agents, schedule,
		created_by, created_at, started_at, ended_at, halt_requested, journal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Experiment, r.Version, r.Document, string(r.Status), r.Reason, r.DryRun, agents, r.Schedule,
		r.CreatedBy, s.t(r.Created), s.t(r.Started), s.t(r.Ended), r.HaltRequested, journal)
	if isUnique(err) {
		return fmt.Errorf("run %q: %w", r.ID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create run %q: %w", r.ID, err)
	}
	return nil
}

const runColumns = `id, experiment, version, status, reason, dry_run, agents, schedule, created_by, created_at, started_at, ended_at, halt_requested`

func scanRun(sc interface{ Scan(...any) error }, extra ...any) (Run, error) {
	var r Run
	var status string
	dest := append([]any{&r.ID, &r.Experiment, &r.Version, &status, &r.Reason, &r.DryRun, js(&r.Agents), &r.Schedule,
		&r.CreatedBy, tm(&r.Created), tm(&r.Started), tm(&r.Ended), &r.HaltRequested}, extra...)
	err := sc.Scan(dest...)
	r.Status = RunStatus(status)
	return r, err
}

func (s *sqlStore) Run(ctx context.Context, id string) (Run, error) {
	var doc string
	var journal json.RawMessage
	r, err := scanRun(s.queryRow(ctx, `SELECT `+runColumns+`, document, journal FROM runs WHERE id = ?`, id), &doc, js(&journal))
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("run", id)
	}
	if err != nil {
		return r, fmt.Errorf("store: read run %q: %w", id, err)
	}
	r.Document, r.Journal = doc, journal
	return r, nil
}

func (s *sqlStore) Runs(ctx context.Context, f RunFilter) ([]Run, error) {
	var where []string
	var args []any
	if len(f.Status) > 0 {
		where = append(where, "status IN "+inList(len(f.Status)))
		for _, st := range f.Status {
			args = append(args, string(st))
		}
	}
	if f.Experiment != "" {
		where = append(where, "experiment = ?")
		args = append(args, f.Experiment)
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, s.t(f.Since))
	}
	query := `SELECT ` + runColumns + ` FROM runs`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, limitOr(f.Limit, 100))
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list runs: %w", err)
	}
	defer rows.Close()
	out := []Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *sqlStore) UpdateRun(ctx context.Context, r Run) error {
	journal, err := jsonArg(r.Journal)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, `UPDATE runs SET status = ?, reason = ?, started_at = ?, ended_at = ?, halt_requested = ?, journal = ? WHERE id = ?`,
		string(r.Status), r.Reason, s.t(r.Started), s.t(r.Ended), r.HaltRequested, journal, r.ID)
	return affected(res, err, "run", r.ID)
}

func (s *sqlStore) AppendRunEvents(ctx context.Context, events []RunEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	added := 0
	err := s.Update(ctx, func(tx Store) error {
		t := tx.(*sqlStore)
		for _, e := range events {
			if e.Received.IsZero() {
				e.Received = now()
			}
			res, err := t.exec(ctx, `INSERT INTO run_events (run_id, agent_id, seq, event, received_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (run_id, agent_id, seq) DO NOTHING`, e.Run, e.Agent, e.Seq, string(e.Event), t.t(e.Received))
			if err != nil {
				return fmt.Errorf("store: append event %d of run %q: %w", e.Seq, e.Run, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: append event %d of run %q: %w", e.Seq, e.Run, err)
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

func (s *sqlStore) RunEvents(ctx context.Context, run string, after int64, limit int) ([]RunEvent, error) {
	rows, err := s.query(ctx, `SELECT id, agent_id, seq, event, received_at FROM run_events WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?`,
		run, after, limitOr(limit, 1000))
	if err != nil {
		return nil, fmt.Errorf("store: read events of run %q: %w", run, err)
	}
	defer rows.Close()
	out := []RunEvent{}
	for rows.Next() {
		e := RunEvent{Run: run}
		if err := rows.Scan(&e.ID, &e.Agent, &e.Seq, js(&e.Event), tm(&e.Received)); err != nil {
			return nil, fmt.Errorf("store: read events of run %q: %w", run, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
