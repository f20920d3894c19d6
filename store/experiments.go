package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

func (s *sqlStore) CreateExperiment(ctx context.Context, name, document, by string) (ExperimentVersion, error) {
	v := ExperimentVersion{Experiment: name, Version: 1, Document: document, CreatedBy: by, Created: now()}
	err := s.Update(ctx, func(tx Store) error {
		t := tx.(*sqlStore)
		_, err := t.exec(ctx, `INSERT INTO experiments (name, current_version, created_at, updated_at) VALUES (?, 1, ?, ?)`,
			name, t.t(v.Created), t.t(v.Created))
		if isUnique(err) {
			return fmt.Errorf("experiment %q: %w", name, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("store: create experiment %q: %w", name, err)
		}
		return t.insertVersion(ctx, v)
	})
	return v, err
}

func (s *sqlStore) insertVersion(ctx context.Context, v ExperimentVersion) error {
	_, err := s.exec(ctx, `INSERT INTO experiment_versions (experiment, version, document, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
		v.Experiment, v.Version, v.Document, v.CreatedBy, s.t(v.Created))
	if err != nil {
		return fmt.Errorf("store: save version %d of experiment %q: %w", v.Version, v.Experiment, err)
	}
	return nil
}

func (s *sqlStore) AddExperimentVersion(ctx context.Context, name, document, by string) (ExperimentVersion, error) {
	v := ExperimentVersion{Experiment: name, Document: document, CreatedBy: by, Created: now()}
	err := s.Update(ctx, func(tx Store) error {
		t := tx.(*sqlStore)
		err := t.writeRow(ctx, `UPDATE experiments SET current_version = current_version + 1, updated_at = ? WHERE name = ? RETURNING current_version`,
			t.t(v.Created), name).Scan(&v.Version)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("experiment", name)
		}
		if err != nil {
			return fmt.Errorf("store: new version of experiment %q: %w", name, err)
		}
		return t.insertVersion(ctx, v)
	})
	return v, err
}

const experimentColumns = `name, current_version, created_at, updated_at`

func scanExperiment(sc interface{ Scan(...any) error }) (Experiment, error) {
	var e Experiment
	err := sc.Scan(&e.Name, &e.CurrentVersion, tm(&e.Created), tm(&e.Updated))
	return e, err
}

func (s *sqlStore) Experiment(ctx context.Context, name string) (Experiment, error) {
	e, err := scanExperiment(s.queryRow(ctx, `SELECT `+experimentColumns+` FROM experiments WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return e, notFound("experiment", name)
	}
	if err != nil {
		return e, fmt.Errorf("store: read experiment %q: %w", name, err)
	}
	return e, nil
}

func (s *sqlStore) Experiments(ctx context.Context) ([]Experiment, error) {
	rows, err := s.query(ctx, `SELECT `+experimentColumns+` FROM experiments ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list experiments: %w", err)
	}
	defer rows.Close()
	out := []Experiment{}
	for rows.Next() {
		e, err := scanExperiment(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list experiments: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *sqlStore) ExperimentVersion(ctx context.Context, name string, version int) (ExperimentVersion, error) {
	v := ExperimentVersion{Experiment: name, Version: version}
	err := s.queryRow(ctx, `SELECT document, created_by, created_at FROM experiment_versions WHERE experiment = ? AND version = ?`,
		name, version).Scan(&v.Document, &v.CreatedBy, tm(&v.Created))
	if errors.Is(err, sql.ErrNoRows) {
		return v, notFound("experiment version", fmt.Sprintf("%s@%d", name, version))
	}
	if err != nil {
		return v, fmt.Errorf("store: read version %d of experiment %q: %w", version, name, err)
	}
	return v, nil
}

func (s *sqlStore) ExperimentVersions(ctx context.Context, name string) ([]ExperimentVersion, error) {
	rows, err := s.query(ctx, `SELECT version, created_by, created_at FROM experiment_versions WHERE experiment = ? ORDER BY version DESC`, name)
	if err != nil {
		return nil, fmt.Errorf("store: list versions of experiment %q: %w", name, err)
	}
	defer rows.Close()
	out := []ExperimentVersion{}
	for rows.Next() {
		v := ExperimentVersion{Experiment: name}
		if err := rows.Scan(&v.Version, &v.CreatedBy, tm(&v.Created)); err != nil {
			return nil, fmt.Errorf("store: list versions of experiment %q: %w", name, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list versions of experiment %q: %w", name, err)
	}
	if len(out) == 0 {
		return nil, notFound("experiment", name)
	}
	return out, nil
}

func (s *sqlStore) DeleteExperiment(ctx context.Context, name string) error {
	return s.Update(ctx, func(tx Store) error {
		t := tx.(*sqlStore)
		if _, err := t.exec(ctx, `DELETE FROM experiment_versions WHERE experiment = ?`, name); err != nil {
			return fmt.Errorf("store: delete experiment %q: %w", name, err)
		}
		res, err := t.exec(ctx, `DELETE FROM experiments WHERE name = ?`, name)
		return affected(res, err, "experiment", name)
	})
}
