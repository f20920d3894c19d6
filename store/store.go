// Package store persists the control plane's state — experiments and their
// versions, runs and their events, agents and the faults they hold,
// assignments, schedules, API tokens, webhooks and the audit log — behind
// one interface, Store.
//
// Two implementations share one SQL code path over database/sql: SQLite
// embedded in a single file (pure Go, WAL, busy timeout; the default) and
// PostgreSQL (pgx) for teams. Open picks one by the URL's scheme and brings
// the schema up to date with goose migrations embedded per dialect.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"time"
)

// Errors the Store methods return (wrapped) so callers can tell a missing
// or duplicate object from a failure.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Store is the control plane's persistence. Every method is one atomic
// change or read; Update groups several into one transaction.
type Store interface {
	// Update runs fn in one transaction: the changes fn makes through tx
	// are kept when it returns nil, and none of them otherwise. Calling
	// Update on tx runs the function in the same transaction.
	Update(ctx context.Context, fn func(tx Store) error) error
	// Dialect is "sqlite" or "postgres".
	Dialect() string
	Close() error

	// CreateExperiment stores version 1 of a new experiment (ErrExists if
	// the name is taken).
	CreateExperiment(ctx context.Context, name, document, by string) (ExperimentVersion, error)
	// AddExperimentVersion stores the next version of an experiment and
	// makes it current (ErrNotFound if there is no such experiment).
	AddExperimentVersion(ctx context.Context, name, document, by string) (ExperimentVersion, error)
	Experiment(ctx context.Context, name string) (Experiment, error)
	Experiments(ctx context.Context) ([]Experiment, error)
	ExperimentVersion(ctx context.Context, name string, version int) (ExperimentVersion, error)
	// ExperimentVersions lists every version, newest first.
	ExperimentVersions(ctx context.Context, name string) ([]ExperimentVersion, error)
	// DeleteExperiment removes an experiment and its versions; runs keep
	// the document they ran.
	DeleteExperiment(ctx context.Context, name string) error

	CreateRun(ctx context.Context, r Run) error
	// Run returns a run with its document and journal.
	Run(ctx context.Context, id string) (Run, error)
	// Runs lists runs, newest first, without documents or journals.
	Runs(ctx context.Context, f RunFilter) ([]Run, error)
	// UpdateRun saves a run's status, reason, times, halt request and
	// journal.
	UpdateRun(ctx context.Context, r Run) error
	// AppendRunEvents stores events, skipping those already stored (same
	// run, agent and seq), and returns how many were new.
	AppendRunEvents(ctx context.Context, events []RunEvent) (int, error)
	// RunEvents returns up to limit events of a run stored after the
	// event with id after, in the order they were stored.
	RunEvents(ctx context.Context, run string, after int64, limit int) ([]RunEvent, error)

	// RegisterAgent adds an agent, or updates the one with the same name
	// and keeps its id and operator labels; it returns the stored agent.
	RegisterAgent(ctx context.Context, a Agent) (Agent, error)
	Agent(ctx context.Context, id string) (Agent, error)
	Agents(ctx context.Context) ([]Agent, error)
	// Heartbeat records that an agent was heard from.
	Heartbeat(ctx context.Context, h Heartbeat) error
	// SetAgentLabels replaces the labels operators gave an agent.
	SetAgentLabels(ctx context.Context, id string, labels map[string]string) error
	// MarkAgentsLost marks online agents whose lease ended before now as
	// lost and returns their ids.
	MarkAgentsLost(ctx context.Context, now time.Time) ([]string, error)
	// ExtendLeases moves every online agent's lease end to at least until
	// (after a restart of the server, which agents could not reach).
	ExtendLeases(ctx context.Context, until time.Time) error
	// SetAgentFaults replaces the open faults an agent reported.
	SetAgentFaults(ctx context.Context, agent string, faults []AgentFault) error
	// AgentFaults lists the open faults of one agent, or of every agent
	// when agent is "".
	AgentFaults(ctx context.Context, agent string) ([]AgentFault, error)
	// RequestHaltAll flags every agent to be told to halt everything, and
	// returns their ids.
	RequestHaltAll(ctx context.Context) ([]string, error)
	// HaltAllPending lists the agents flagged and not yet told.
	HaltAllPending(ctx context.Context) ([]string, error)
	// ClearHaltAll clears the flags of agents that were told.
	ClearHaltAll(ctx context.Context, agents []string) error

	CreateAssignment(ctx context.Context, a Assignment) error
	Assignment(ctx context.Context, id string) (Assignment, error)
	// Assignments lists assignments (without journals) oldest first.
	Assignments(ctx context.Context, f AssignmentFilter) ([]Assignment, error)
	// UpdateAssignment saves an assignment's state, halt request and
	// journal.
	UpdateAssignment(ctx context.Context, a Assignment) error

	CreateSchedule(ctx context.Context, s Schedule) error
	Schedule(ctx context.Context, id string) (Schedule, error)
	Schedules(ctx context.Context) ([]Schedule, error)
	// UpdateSchedule saves every field but the id, creator and creation
	// time.
	UpdateSchedule(ctx context.Context, s Schedule) error
	DeleteSchedule(ctx context.Context, id string) error

	CreateToken(ctx context.Context, t Token) error
	// TokenByHash finds a token by the hash of its secret, revoked or not.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	Tokens(ctx context.Context) ([]Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time) error
	CountTokens(ctx context.Context) (int, error)

	CreateWebhook(ctx context.Context, w Webhook) error
	Webhooks(ctx context.Context) ([]Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error

	AddAudit(ctx context.Context, e AuditEntry) error
	// Audit lists entries, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// Experiment is a named experiment and its current version.
type Experiment struct {
	Name           string    `json:"name"`
	CurrentVersion int       `json:"currentVersion"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
}

// ExperimentVersion is one saved text of an experiment document.
type ExperimentVersion struct {
	Experiment string    `json:"experiment"`
	Version    int       `json:"version"`
	Document   string    `json:"document,omitempty"`
	CreatedBy  string    `json:"createdBy"`
	Created    time.Time `json:"created"`
}

// RunStatus is where a run is: pending or running while active, then its
// verdict.
type RunStatus string

// Run statuses; the last four are the journal's verdicts.
const (
	RunPending  RunStatus = "pending"
	RunRunning  RunStatus = "running"
	RunHeld     RunStatus = "held"
	RunDeviated RunStatus = "deviated"
	RunAborted  RunStatus = "aborted"
	RunInvalid  RunStatus = "invalid"
)

// Active reports whether a run with this status has not ended.
func (s RunStatus) Active() bool { return s == RunPending || s == RunRunning }

// AgentSelector picks the agents a run executes on: those whose labels
// include every one of Labels, then Mode (one, all, fixed:N, percent:N)
// among them, deterministically with Seed.
type AgentSelector struct {
	Labels map[string]string `json:"labels,omitempty"`
	Mode   string            `json:"mode,omitempty"`
	Seed   *int64            `json:"seed,omitempty"`
}

// Run is one execution of an experiment version, on the server itself
// (Agents nil) or on agents.
type Run struct {
	ID         string `json:"id"`
	Experiment string `json:"experiment"`
	Version    int    `json:"version"`
	// Document is the experiment as it was run.
	Document      string         `json:"document,omitempty"`
	Status        RunStatus      `json:"status"`
	Reason        string         `json:"reason,omitempty"`
	DryRun        bool           `json:"dryRun,omitempty"`
	Agents        *AgentSelector `json:"agents,omitempty"`
	Schedule      string         `json:"schedule,omitempty"`
	CreatedBy     string         `json:"createdBy"`
	Created       time.Time      `json:"created"`
	Started       time.Time      `json:"started,omitzero"`
	Ended         time.Time      `json:"ended,omitzero"`
	HaltRequested bool           `json:"haltRequested,omitempty"`
	// Journal is the run's journal.Journal as JSON once it has ended.
	Journal json.RawMessage `json:"-"`
}

// RunFilter narrows Runs; zero fields do not filter.
type RunFilter struct {
	Status     []RunStatus
	Experiment string
	// Since keeps runs created at or after it.
	Since time.Time
	// Limit caps the count (default 100).
	Limit int
}

// RunEvent is one event of a run as stored: a journal event or a sample,
// from the server (Agent "") or from an agent, numbered by its source.
type RunEvent struct {
	ID       int64           `json:"id"`
	Run      string          `json:"run"`
	Agent    string          `json:"agent,omitempty"`
	Seq      int64           `json:"seq"`
	Event    json.RawMessage `json:"event"`
	Received time.Time       `json:"received"`
}

// AgentStatus says whether an agent is within its lease.
type AgentStatus string

// Agent statuses.
const (
	AgentOnline AgentStatus = "online"
	AgentLost   AgentStatus = "lost"
)

// Agent is a host agent known to the server.
type Agent struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Hostname string `json:"hostname"`
	// Labels are the ones the agent reports; ExtraLabels are set by
	// operators and win over them.
	Labels      map[string]string `json:"labels"`
	ExtraLabels map[string]string `json:"extraLabels"`
	Features    []string          `json:"features"`
	Version     string            `json:"version"`
	Status      AgentStatus       `json:"status"`
	Registered  time.Time         `json:"registered"`
	LastSeen    time.Time         `json:"lastSeen"`
	LeaseUntil  time.Time         `json:"leaseUntil"`
}

// EffectiveLabels are the agent's labels with the operators' on top.
func (a Agent) EffectiveLabels() map[string]string {
	out := make(map[string]string, len(a.Labels)+len(a.ExtraLabels))
	maps.Copy(out, a.Labels)
	maps.Copy(out, a.ExtraLabels)
	return out
}

// Heartbeat is what a poll tells about its agent.
type Heartbeat struct {
	Agent      string
	At         time.Time
	LeaseUntil time.Time
	// Labels replace the reported labels when not nil.
	Labels map[string]string
}

// AgentFault is a fault an agent reported open in its ledger.
type AgentFault struct {
	Agent  string    `json:"agent"`
	ID     string    `json:"id"`
	Kind   string    `json:"kind"`
	Target string    `json:"target"`
	Run    string    `json:"run,omitempty"`
	Since  time.Time `json:"since"`
}

// AssignmentState is where an agent's part of a run is.
type AssignmentState string

// Assignment states. Pending is waiting for the agent's next poll;
// delivered was sent and not yet acknowledged (it is sent again until the
// agent lists it as running or reports an event of it); done, lost and
// cancelled are final, though a lost agent that comes back and reports its
// journal turns its assignment done.
const (
	AssignmentPending   AssignmentState = "pending"
	AssignmentDelivered AssignmentState = "delivered"
	AssignmentRunning   AssignmentState = "running"
	AssignmentDone      AssignmentState = "done"
	AssignmentLost      AssignmentState = "lost"
	AssignmentCancelled AssignmentState = "cancelled"
)

// Final reports whether the state ends the assignment.
func (s AssignmentState) Final() bool {
	return s == AssignmentDone || s == AssignmentLost || s == AssignmentCancelled
}

// Assignment is one agent's part of a run.
type Assignment struct {
	ID            string          `json:"id"`
	Run           string          `json:"run"`
	Agent         string          `json:"agent"`
	State         AssignmentState `json:"state"`
	HaltRequested bool            `json:"haltRequested,omitempty"`
	Created       time.Time       `json:"created"`
	Updated       time.Time       `json:"updated"`
	// Journal is the agent's journal.Journal as JSON once it reported it.
	Journal json.RawMessage `json:"-"`
}

// AssignmentFilter narrows Assignments; zero fields do not filter.
type AssignmentFilter struct {
	Run    string
	Agent  string
	States []AssignmentState
}

// Schedule starts runs of an experiment at times its Spec computes.
type Schedule struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Experiment string         `json:"experiment"`
	Agents     *AgentSelector `json:"agents,omitempty"`
	// Spec is the timing (a cron expression or Chaos Monkey settings) as
	// JSON; the store does not interpret it.
	Spec      json.RawMessage `json:"spec"`
	Enabled   bool            `json:"enabled"`
	CreatedBy string          `json:"createdBy"`
	Created   time.Time       `json:"created"`
	NextRun   time.Time       `json:"nextRun,omitzero"`
	LastRun   time.Time       `json:"lastRun,omitzero"`
	// History holds the recent times the schedule started a run.
	History []time.Time `json:"history,omitempty"`
}

// Token is an API token's record. Hash is the hex SHA-256 of the secret;
// the secret itself is never stored.
type Token struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	// Agent is, for a token with the agent role, the one agent name it
	// may register and poll as; "" for other roles.
	Agent     string    `json:"agent,omitempty"`
	Hash      string    `json:"-"`
	CreatedBy string    `json:"createdBy"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
	Revoked   time.Time `json:"revoked,omitzero"`
}

// Webhook is a URL notified of run events.
type Webhook struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Events it wants ("run.started", …); empty means all.
	Events    []string  `json:"events"`
	CreatedBy string    `json:"createdBy"`
	Created   time.Time `json:"created"`
}

// AuditEntry is one recorded action: who did what to which object, when.
type AuditEntry struct {
	ID      int64           `json:"id"`
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Object  string          `json:"object"`
	Details json.RawMessage `json:"details,omitempty"`
}

// AuditFilter narrows Audit; zero fields do not filter.
type AuditFilter struct {
	Since  time.Time
	Actor  string
	Action string
	// Before keeps entries with an id below it (paging).
	Before int64
	// Limit caps the count (default 100).
	Limit int
}
