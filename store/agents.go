package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

func (s *sqlStore) RegisterAgent(ctx context.Context, a Agent) (Agent, error) {
	if a.Labels == nil {
		a.Labels = map[string]string{}
	}
	if a.Features == nil {
		a.Features = []string{}
	}
	at := a.LastSeen
	if at.IsZero() {
		at = now()
	}
	a.LastSeen, a.Status = at, AgentOnline
	err := s.writeRow(ctx, `INSERT INTO agents (id, name, hostname, labels, extra_labels, features, version, status,
			registered_at, last_seen, lease_until, halt_pending) VALUES (?, ?, ?, ?, '{}', ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET hostname = excluded.hostname, labels = excluded.labels, features = excluded.features,
			version = excluded.version, status = excluded.status, last_seen = excluded.last_seen, lease_until = excluded.lease_until
		RETURNING id, extra_labels, registered_at`,
		a.ID, a.Name, a.Hostname, mustJSON(a.Labels), mustJSON(a.Features), a.Version, string(AgentOnline),
		s.t(at), s.t(at), s.t(a.LeaseUntil), false).Scan(&a.ID, js(&a.ExtraLabels), tm(&a.Registered))
	if err != nil {
		return a, fmt.Errorf("store: register agent %q: %w", a.Name, err)
	}
	return a, nil
}

const agentColumns = `id, name, hostname, labels, extra_labels, features, version, status, registered_at, last_seen, lease_until`

func scanAgent(sc interface{ Scan(...any) error }) (Agent, error) {
	var a Agent
	var status string
	err := sc.Scan(&a.ID, &a.Name, &a.Hostname, js(&a.Labels), js(&a.ExtraLabels), js(&a.Features), &a.Version, &status,
		tm(&a.Registered), tm(&a.LastSeen), tm(&a.LeaseUntil))
	a.Status = AgentStatus(status)
	return a, err
}

func (s *sqlStore) Agent(ctx context.Context, id string) (Agent, error) {
	a, err := scanAgent(s.queryRow(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("agent", id)
	}
	if err != nil {
		return a, fmt.Errorf("store: read agent %q: %w", id, err)
	}
	return a, nil
}

func (s *sqlStore) Agents(ctx context.Context) ([]Agent, error) {
	rows, err := s.query(ctx, `SELECT `+agentColumns+` FROM agents ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list agents: %w", err)
	}
	defer rows.Close()
	out := []Agent{}
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list agents: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *sqlStore) Heartbeat(ctx context.Context, h Heartbeat) error {
	set := `last_seen = ?, lease_until = ?, status = ?`
	args := []any{s.t(h.At), s.t(h.LeaseUntil), string(AgentOnline)}
	if h.Labels != nil {
		set += `, labels = ?`
		args = append(args, mustJSON(h.Labels))
	}
	res, err := s.exec(ctx, `UPDATE agents SET `+set+` WHERE id = ?`, append(args, h.Agent)...)
	return affected(res, err, "agent", h.Agent)
}

func (s *sqlStore) SetAgentLabels(ctx context.Context, id string, labels map[string]string) error {
	if labels == nil {
		labels = map[string]string{}
	}
	res, err := s.exec(ctx, `UPDATE agents SET extra_labels = ? WHERE id = ?`, mustJSON(labels), id)
	return affected(res, err, "agent", id)
}

func (s *sqlStore) MarkAgentsLost(ctx context.Context, at time.Time) ([]string, error) {
	return s.ids(ctx, s.x, "mark lost agents", `UPDATE agents SET status = ? WHERE status = ? AND lease_until < ? RETURNING id`,
		string(AgentLost), string(AgentOnline), s.t(at))
}

func (s *sqlStore) ExtendLeases(ctx context.Context, until time.Time) error {
	_, err := s.exec(ctx, `UPDATE agents SET lease_until = ? WHERE status = ? AND lease_until < ?`,
		s.t(until), string(AgentOnline), s.t(until))
	if err != nil {
		return fmt.Errorf("store: extend agent leases: %w", err)
	}
	return nil
}

func (s *sqlStore) SetAgentFaults(ctx context.Context, agent string, faults []AgentFault) error {
	return s.Update(ctx, func(tx Store) error {
		t := tx.(*sqlStore)
		// Most polls report what the last one did: then nothing is written.
		have, err := t.ids(ctx, t.r, "read faults of agent "+agent, `SELECT fault_id FROM agent_faults WHERE agent_id = ? ORDER BY fault_id`, agent)
		if err != nil {
			return err
		}
		want := make([]string, len(faults))
		for i, f := range faults {
			want[i] = f.ID
		}
		slices.Sort(want)
		if slices.Equal(have, slices.Compact(want)) {
			return nil
		}
		if _, err := t.exec(ctx, `DELETE FROM agent_faults WHERE agent_id = ?`, agent); err != nil {
			return fmt.Errorf("store: replace faults of agent %q: %w", agent, err)
		}
		for _, f := range faults {
			_, err := t.exec(ctx, `INSERT INTO agent_faults (agent_id, fault_id, kind, target, run_id, since) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (agent_id, fault_id) DO NOTHING`, agent, f.ID, f.Kind, f.Target, f.Run, t.t(f.Since))
			if err != nil {
				return fmt.Errorf("store: replace faults of agent %q: %w", agent, err)
			}
		}
		return nil
	})
}

func (s *sqlStore) AgentFaults(ctx context.Context, agent string) ([]AgentFault, error) {
	query := `SELECT agent_id, fault_id, kind, target, run_id, since FROM agent_faults`
	var args []any
	if agent != "" {
		query += ` WHERE agent_id = ?`
		args = append(args, agent)
	}
	rows, err := s.query(ctx, query+` ORDER BY agent_id, since, fault_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list agent faults: %w", err)
	}
	defer rows.Close()
	out := []AgentFault{}
	for rows.Next() {
		var f AgentFault
		if err := rows.Scan(&f.Agent, &f.ID, &f.Kind, &f.Target, &f.Run, tm(&f.Since)); err != nil {
			return nil, fmt.Errorf("store: list agent faults: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (s *sqlStore) RequestHaltAll(ctx context.Context) ([]string, error) {
	return s.ids(ctx, s.x, "flag agents to halt", `UPDATE agents SET halt_pending = ? RETURNING id`, true)
}

func (s *sqlStore) HaltAllPending(ctx context.Context) ([]string, error) {
	return s.ids(ctx, s.r, "list agents to halt", `SELECT id FROM agents WHERE halt_pending = ? ORDER BY id`, true)
}

func (s *sqlStore) ClearHaltAll(ctx context.Context, agents []string) error {
	const chunk = 500
	return s.Update(ctx, func(tx Store) error {
		t := tx.(*sqlStore)
		for len(agents) > 0 {
			n := min(len(agents), chunk)
			args := []any{false}
			for _, id := range agents[:n] {
				args = append(args, id)
			}
			if _, err := t.exec(ctx, `UPDATE agents SET halt_pending = ? WHERE id IN `+inList(n), args...); err != nil {
				return fmt.Errorf("store: clear halt flags: %w", err)
			}
			agents = agents[n:]
		}
		return nil
	})
}

// ids runs a query (or a write with RETURNING) that yields ids.
func (s *sqlStore) ids(ctx context.Context, q querier, what, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

func (s *sqlStore) CreateAssignment(ctx context.Context, a Assignment) error {
	journal, err := jsonArg(a.Journal)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO assignments (id, run_id, agent_id, state, halt_requested, created_at, updated_at, journal)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.Run, a.Agent, string(a.State), a.HaltRequested, s.t(a.Created), s.t(a.Updated), journal)
	if isUnique(err) {
		return fmt.Errorf("assignment %q: %w", a.ID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create assignment %q: %w", a.ID, err)
	}
	return nil
}

const assignmentColumns = `id, run_id, agent_id, state, halt_requested, created_at, updated_at`

func scanAssignment(sc interface{ Scan(...any) error }, extra ...any) (Assignment, error) {
	var a Assignment
	var state string
	err := sc.Scan(append([]any{&a.ID, &a.Run, &a.Agent, &state, &a.HaltRequested, tm(&a.Created), tm(&a.Updated)}, extra...)...)
	a.State = AssignmentState(state)
	return a, err
}

func (s *sqlStore) Assignment(ctx context.Context, id string) (Assignment, error) {
	var journal json.RawMessage
	a, err := scanAssignment(s.queryRow(ctx, `SELECT `+assignmentColumns+`, journal FROM assignments WHERE id = ?`, id), js(&journal))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("assignment", id)
	}
	if err != nil {
		return a, fmt.Errorf("store: read assignment %q: %w", id, err)
	}
	a.Journal = journal
	return a, nil
}

func (s *sqlStore) Assignments(ctx context.Context, f AssignmentFilter) ([]Assignment, error) {
	var where []string
	var args []any
	if f.Run != "" {
		where = append(where, "run_id = ?")
		args = append(args, f.Run)
	}
	if f.Agent != "" {
		where = append(where, "agent_id = ?")
		args = append(args, f.Agent)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN "+inList(len(f.States)))
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	query := `SELECT ` + assignmentColumns + ` FROM assignments`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.query(ctx, query+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: list assignments: %w", err)
	}
	defer rows.Close()
	out := []Assignment{}
	for rows.Next() {
		a, err := scanAssignment(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list assignments: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *sqlStore) UpdateAssignment(ctx context.Context, a Assignment) error {
	journal, err := jsonArg(a.Journal)
	if err != nil {
		return err
	}
	if a.Updated.IsZero() {
		a.Updated = now()
	}
	res, err := s.exec(ctx, `UPDATE assignments SET state = ?, halt_requested = ?, updated_at = ?, journal = ? WHERE id = ?`,
		string(a.State), a.HaltRequested, s.t(a.Updated), journal, a.ID)
	return affected(res, err, "assignment", a.ID)
}
