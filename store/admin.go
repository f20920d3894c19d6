package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

func (s *sqlStore) CreateSchedule(ctx context.Context, sc Schedule) error {
	agents, err := jsonArg(sc.Agents)
	if err != nil {
		return err
	}
	if sc.History == nil {
		sc.History = []time.Time{}
	}
	_, err = s.exec(ctx, `INSERT INTO schedules (id, name, experiment, agents, spec, enabled, created_by, created_at, next_run, last_run, history)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sc.ID, sc.Name, sc.Experiment, agents, string(sc.Spec), sc.Enabled,
		sc.CreatedBy, s.t(sc.Created), s.t(sc.NextRun), s.t(sc.LastRun), mustJSON(sc.History))
	if isUnique(err) {
		return fmt.Errorf("schedule %q: %w", sc.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create schedule %q: %w", sc.Name, err)
	}
	return nil
}

const scheduleColumns = `id, name, experiment, agents, spec, enabled, created_by, created_at, next_run, last_run, history`

func scanSchedule(row interface{ Scan(...any) error }) (Schedule, error) {
	var sc Schedule
	err := row.Scan(&sc.ID, &sc.Name, &sc.Experiment, js(&sc.Agents), js(&sc.Spec), &sc.Enabled, &sc.CreatedBy,
		tm(&sc.Created), tm(&sc.NextRun), tm(&sc.LastRun), js(&sc.History))
	return sc, err
}

func (s *sqlStore) Schedule(ctx context.Context, id string) (Schedule, error) {
	sc, err := scanSchedule(s.queryRow(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return sc, notFound("schedule", id)
	}
	if err != nil {
		return sc, fmt.Errorf("store: read schedule %q: %w", id, err)
	}
	return sc, nil
}

func (s *sqlStore) Schedules(ctx context.Context) ([]Schedule, error) {
	rows, err := s.query(ctx, `SELECT `+scheduleColumns+` FROM schedules ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list schedules: %w", err)
	}
	defer rows.Close()
	out := []Schedule{}
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list schedules: %w", err)
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

func (s *sqlStore) UpdateSchedule(ctx context.Context, sc Schedule) error {
	agents, err := jsonArg(sc.Agents)
	if err != nil {
		return err
	}
	if sc.History == nil {
		sc.History = []time.Time{}
	}
	res, err := s.exec(ctx, `UPDATE schedules SET name = ?, experiment = ?, agents = ?, spec = ?, enabled = ?, next_run = ?, last_run = ?, history = ?
		WHERE id = ?`, sc.Name, sc.Experiment, agents, string(sc.Spec), sc.Enabled, s.t(sc.NextRun), s.t(sc.LastRun),
		mustJSON(sc.History), sc.ID)
	if isUnique(err) {
		return fmt.Errorf("schedule %q: %w", sc.Name, ErrExists)
	}
	return affected(res, err, "schedule", sc.ID)
}

func (s *sqlStore) DeleteSchedule(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM schedules WHERE id = ?`, id)
	return affected(res, err, "schedule", id)
}

func (s *sqlStore) CreateToken(ctx context.Context, t Token) error {
	_, err := s.exec(ctx, `INSERT INTO tokens (id, name, role, agent, hash, created_by, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Role, t.Agent, t.Hash, t.CreatedBy, s.t(t.Created), s.t(t.Expires), s.t(t.Revoked))
	if isUnique(err) {
		return fmt.Errorf("token %q: %w", t.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create token %q: %w", t.Name, err)
	}
	return nil
}

const tokenColumns = `id, name, role, agent, hash, created_by, created_at, expires_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	err := row.Scan(&t.ID, &t.Name, &t.Role, &t.Agent, &t.Hash, &t.CreatedBy, tm(&t.Created), tm(&t.Expires), tm(&t.Revoked))
	return t, err
}

func (s *sqlStore) TokenByHash(ctx context.Context, hash string) (Token, error) {
	t, err := scanToken(s.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("store: find token: %w", err)
	}
	return t, nil
}

func (s *sqlStore) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *sqlStore) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.exec(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, s.t(at), id)
	return affected(res, err, "token", id)
}

func (s *sqlStore) CountTokens(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM tokens`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count tokens: %w", err)
	}
	return n, nil
}

func (s *sqlStore) CreateWebhook(ctx context.Context, w Webhook) error {
	if w.Events == nil {
		w.Events = []string{}
	}
	_, err := s.exec(ctx, `INSERT INTO webhooks (id, url, events, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
		w.ID, w.URL, mustJSON(w.Events), w.CreatedBy, s.t(w.Created))
	if err != nil {
		return fmt.Errorf("store: create webhook: %w", err)
	}
	return nil
}

func (s *sqlStore) Webhooks(ctx context.Context) ([]Webhook, error) {
	rows, err := s.query(ctx, `SELECT id, url, events, created_by, created_at FROM webhooks ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list webhooks: %w", err)
	}
	defer rows.Close()
	out := []Webhook{}
	for rows.Next() {
		var w Webhook
		if err := rows.Scan(&w.ID, &w.URL, js(&w.Events), &w.CreatedBy, tm(&w.Created)); err != nil {
			return nil, fmt.Errorf("store: list webhooks: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

func (s *sqlStore) DeleteWebhook(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
	return affected(res, err, "webhook", id)
}

func (s *sqlStore) AddAudit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = now()
	}
	details := "{}"
	if len(e.Details) > 0 {
		details = string(e.Details)
	}
	_, err := s.exec(ctx, `INSERT INTO audit (at, actor, action, object, details) VALUES (?, ?, ?, ?, ?)`,
		s.t(e.At), e.Actor, e.Action, e.Object, details)
	if err != nil {
		return fmt.Errorf("store: audit %s %s: %w", e.Action, e.Object, err)
	}
	return nil
}

func (s *sqlStore) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, s.t(f.Since))
	}
	if f.Actor != "" {
		where = append(where, "actor = ?")
		args = append(args, f.Actor)
	}
	if f.Action != "" {
		where = append(where, "action = ?")
		args = append(args, f.Action)
	}
	if f.Before > 0 {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	query := `SELECT id, at, actor, action, object, details FROM audit`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.query(ctx, query+" ORDER BY id DESC LIMIT ?", append(args, limitOr(f.Limit, 100))...)
	if err != nil {
		return nil, fmt.Errorf("store: read audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, tm(&e.At), &e.Actor, &e.Action, &e.Object, js(&e.Details)); err != nil {
			return nil, fmt.Errorf("store: read audit log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
