// Package protocol is what a faultline agent and the control plane say to
// each other over HTTP (JSON bodies, bearer token auth, under /api/v1/).
//
// An agent registers, then long-polls: each poll is also its heartbeat and
// carries the events of the runs it executes and the faults it holds open;
// the answer carries new assignments, halts, and the lease. Faults an agent
// holds are under that lease — its dead man's switch: when the agent cannot
// reach the server for Lease, it halts its runs itself (every fault is
// recovered) and says so when it reconnects.
//
//	POST /api/v1/agents/register          Register      -> Registered
//	POST /api/v1/agents/{id}/poll          Poll          -> PollReply   (long poll, ≤ Wait)
//
// Both need a token with the "agent" role issued for the agent's name (an
// agent token acts as that one agent: any other name, on register or on
// the agent id's poll, is refused with 403), or an admin token.
package protocol

import (
	"encoding/json"
	"time"
)

// Register is an agent introducing itself (again, after a restart: the
// server recognises it by Name and keeps its id).
type Register struct {
	// Name is unique per agent (default: the hostname).
	Name     string            `json:"name"`
	Hostname string            `json:"hostname"`
	Labels   map[string]string `json:"labels"`
	// Features are what the host can do (root, netem, nftables, nfqueue,
	// cgroup v1/v2, docker), as `faultline doctor` finds them.
	Features []string `json:"features,omitempty"`
	Version  string   `json:"version"`
	// Recovered lists faults the agent recovered on its own since it last
	// spoke to the server (a restart replaying its ledger, or the dead man's
	// switch), so the server can close them in its records.
	Recovered []RecoveredFault `json:"recovered,omitempty"`
}

// Registered is the server's answer to Register.
type Registered struct {
	AgentID string `json:"agentId"`
	// Lease is how long the agent may hold faults without reaching the
	// server; it halts its runs by itself after that.
	Lease Duration `json:"lease"`
	// Wait is how long a poll may be held open by the server.
	Wait Duration `json:"wait"`
}

// Poll is a heartbeat with the agent's news.
type Poll struct {
	// Events of the runs the agent executes, since its last poll that
	// was answered (resent after a failed poll; the server de-duplicates
	// by RunID + Seq).
	Events []RunEvent `json:"events,omitempty"`
	// Running lists the assignments the agent is executing, and those it
	// ended whose journal this poll does not carry yet (it comes later):
	// an assignment leaves Running in the poll that carries its journal.
	Running []string `json:"running,omitempty"`
	// OpenFaults is the agent's ledger: faults applied and not recovered.
	OpenFaults []OpenFault       `json:"openFaults,omitempty"`
	Recovered  []RecoveredFault  `json:"recovered,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Wait, when set, is the longest the server may hold this poll: the
	// agent asks for short holds while its runs produce events, so they
	// reach the server promptly. Zero means Registered.Wait.
	Wait Duration `json:"wait,omitempty"`
}

// PollReply tells the agent what to do.
type PollReply struct {
	Assignments []Assignment `json:"assignments,omitempty"`
	// Halt lists assignment ids to halt now; HaltAll halts every run
	// (the big red button).
	Halt    []string `json:"halt,omitempty"`
	HaltAll bool     `json:"haltAll,omitempty"`
	Lease   Duration `json:"lease"`
}

// Assignment is one experiment for the agent to run with the same engine
// as `faultline run`, against its own host.
type Assignment struct {
	ID    string `json:"id"`
	RunID string `json:"runId"`
	// Experiment is the experiment document (YAML or JSON), validated
	// again by the agent against its own fault kinds.
	Experiment string    `json:"experiment"`
	DryRun     bool      `json:"dryRun,omitempty"`
	Created    time.Time `json:"created"`
}

// RunEvent is one journal event of an assignment, or its end.
type RunEvent struct {
	AssignmentID string `json:"assignmentId"`
	RunID        string `json:"runId"`
	Seq          int64  `json:"seq"`
	// Event is a journal.Event as JSON.
	Event json.RawMessage `json:"event,omitempty"`
	// Sample is a check sample (a journal.Sample as JSON) of the series
	// Check of kind SeriesKind ("hypothesis" or "stop"), so the server can
	// chart an agent's run live. Measure, Unit and Tolerance are the
	// series' (journal.Series): what the chart plots, in which unit, and
	// the tolerance line drawn over it.
	Check      string          `json:"check,omitempty"`
	SeriesKind string          `json:"seriesKind,omitempty"`
	Measure    string          `json:"measure,omitempty"`
	Unit       string          `json:"unit,omitempty"`
	Tolerance  string          `json:"tolerance,omitempty"`
	Sample     json.RawMessage `json:"sample,omitempty"`
	// Journal is set on the last event of an assignment: the whole
	// journal.Journal as JSON.
	Journal json.RawMessage `json:"journal,omitempty"`
}

// OpenFault is one fault the agent's ledger holds open.
type OpenFault struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind"`
	Target string    `json:"target"`
	RunID  string    `json:"runId,omitempty"`
	Since  time.Time `json:"since"`
}

// RecoveredFault is a fault the agent recovered by itself, and why.
type RecoveredFault struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind"`
	RunID  string    `json:"runId,omitempty"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"` // "lease expired", "agent restarted", …
	Error  string    `json:"error,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
