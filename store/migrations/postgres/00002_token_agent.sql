-- An agent token is bound to one agent name (tokens.agent), the only one
-- it may register and poll as; other roles have ''. Agent tokens made
-- before this are bound to the one name each registered, as the audit
-- log records (actor "name (id)", object "agent/NAME"); a token that
-- registered several names (shared by hosts) or none stays unbound, and
-- the server refuses it until it is replaced by one token per agent.

-- +goose Up
ALTER TABLE tokens ADD COLUMN agent TEXT NOT NULL DEFAULT '';

UPDATE tokens SET agent = (
    SELECT MIN(substr(audit.object, 7)) FROM audit
    WHERE audit.action = 'agent.register' AND audit.actor = tokens.name || ' (' || tokens.id || ')'
)
WHERE role = 'agent' AND (
    SELECT COUNT(DISTINCT audit.object) FROM audit
    WHERE audit.action = 'agent.register' AND audit.actor = tokens.name || ' (' || tokens.id || ')'
) = 1;

-- +goose Down
ALTER TABLE tokens DROP COLUMN agent;
