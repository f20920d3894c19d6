-- The control plane's schema for PostgreSQL: the same tables as for SQLite,
-- with timestamptz times and json values (json keeps the text as sent,
-- which jsonb would not).

-- +goose Up
CREATE TABLE experiments (
    name            TEXT PRIMARY KEY,
    current_version INTEGER NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE experiment_versions (
    experiment TEXT NOT NULL REFERENCES experiments (name) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    document   TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (experiment, version)
);

CREATE TABLE runs (
    id             TEXT PRIMARY KEY,
    experiment     TEXT NOT NULL,
    version        INTEGER NOT NULL,
    document       TEXT NOT NULL,
    status         TEXT NOT NULL,
    reason         TEXT NOT NULL,
    dry_run        BOOLEAN NOT NULL,
    agents         JSON,
    schedule       TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    started_at     TIMESTAMPTZ,
    ended_at       TIMESTAMPTZ,
    halt_requested BOOLEAN NOT NULL,
    journal        JSON
);
CREATE INDEX runs_status ON runs (status);
CREATE INDEX runs_experiment ON runs (experiment, created_at);
CREATE INDEX runs_created ON runs (created_at);

CREATE TABLE run_events (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    agent_id    TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    event       JSON NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    UNIQUE (run_id, agent_id, seq)
);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    hostname      TEXT NOT NULL,
    labels        JSON NOT NULL,
    extra_labels  JSON NOT NULL,
    features      JSON NOT NULL,
    version       TEXT NOT NULL,
    status        TEXT NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL,
    last_seen     TIMESTAMPTZ NOT NULL,
    lease_until   TIMESTAMPTZ NOT NULL,
    halt_pending  BOOLEAN NOT NULL
);
CREATE INDEX agents_lease ON agents (status, lease_until);

CREATE TABLE agent_faults (
    agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    fault_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    target   TEXT NOT NULL,
    run_id   TEXT NOT NULL,
    since    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (agent_id, fault_id)
);

CREATE TABLE assignments (
    id             TEXT PRIMARY KEY,
    run_id         TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    agent_id       TEXT NOT NULL REFERENCES agents (id),
    state          TEXT NOT NULL,
    halt_requested BOOLEAN NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    journal        JSON
);
CREATE INDEX assignments_agent ON assignments (agent_id, state);
CREATE INDEX assignments_run ON assignments (run_id);

CREATE TABLE schedules (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    experiment TEXT NOT NULL,
    agents     JSON,
    spec       JSON NOT NULL,
    enabled    BOOLEAN NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    next_run   TIMESTAMPTZ,
    last_run   TIMESTAMPTZ,
    history    JSON NOT NULL
);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    events     JSON NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit (
    id      BIGSERIAL PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    object  TEXT NOT NULL,
    details JSON NOT NULL
);
CREATE INDEX audit_at ON audit (at);

-- +goose Down
DROP TABLE audit;
DROP TABLE webhooks;
DROP TABLE tokens;
DROP TABLE schedules;
DROP TABLE assignments;
DROP TABLE agent_faults;
DROP TABLE agents;
DROP TABLE run_events;
DROP TABLE runs;
DROP TABLE experiment_versions;
DROP TABLE experiments;
