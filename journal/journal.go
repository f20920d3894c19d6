// Package journal is the record every run leaves: a versioned JSON document
// with the experiment as run, the verdict, every event, each check's time
// series, the targets hit and the metrics. Reports are rendered from it
// alone.
package journal

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// APIVersion is the journal format's version.
const APIVersion = "faultline.dev/journal/v1"

// Status is a run's verdict.
type Status string

// The verdicts and the exit codes of `faultline run` for each.
const (
	Held     Status = "held"     // exit 0: the hypothesis held
	Deviated Status = "deviated" // exit 1: the steady state broke
	Invalid  Status = "invalid"  // exit 2: nothing was injected
	Aborted  Status = "aborted"  // exit 3: stopped early, all recovered
)

// ExitCode maps a verdict to the process exit code.
func (s Status) ExitCode() int {
	switch s {
	case Held:
		return 0
	case Deviated:
		return 1
	case Invalid:
		return 2
	}
	return 3
}

// EventType names what happened.
type EventType string

// Event types.
const (
	PhaseStarted   EventType = "phase"
	StepStarted    EventType = "step"
	Injecting      EventType = "injecting"
	Injected       EventType = "injected"
	InjectFailed   EventType = "inject-failed"
	Recovered      EventType = "recovered"
	RecoverFailed  EventType = "recover-failed"
	FaultNote      EventType = "fault-note" // what a fault in place did (a repeated kill)
	Proxy          EventType = "proxy"      // the experiment's own fault proxies started or closed
	CheckFailed    EventType = "check-failed"
	CheckRecovered EventType = "check-ok"
	StopCondition  EventType = "stop-condition"
	Halt           EventType = "halt"
	Rollback       EventType = "rollback"
	ErrorEvent     EventType = "error"
	Verdict        EventType = "verdict"
)

// Event is one transition of the run. At is the offset from the start of
// the run on the monotonic clock, in seconds.
type Event struct {
	At      float64   `json:"at"`
	Time    time.Time `json:"time"`
	Type    EventType `json:"type"`
	Phase   string    `json:"phase,omitempty"`
	Step    string    `json:"step,omitempty"`
	Fault   string    `json:"fault,omitempty"`
	FaultID string    `json:"faultId,omitempty"`
	Target  string    `json:"target,omitempty"`
	Check   string    `json:"check,omitempty"`
	Message string    `json:"message,omitempty"`
	// Ends is, on an injected event, when the fault is due to be recovered
	// (an offset like At); absent when it lasts until the end of the method.
	Ends *float64 `json:"ends,omitempty"`
}

// Series is one check's samples over the run.
type Series struct {
	Check string `json:"check"`
	Probe string `json:"probe"`
	// Kind is "hypothesis" or "stop".
	Kind string `json:"kind"`
	// Measure is the plotted measure (e.g. "latency") and Unit its unit
	// ("s" for durations).
	Measure   string   `json:"measure,omitempty"`
	Unit      string   `json:"unit,omitempty"`
	Tolerance string   `json:"tolerance,omitempty"`
	Samples   []Sample `json:"samples"`
}

// Sample is one judged measurement.
type Sample struct {
	At       float64        `json:"at"`
	Phase    string         `json:"phase"`
	OK       bool           `json:"ok"`
	Value    *float64       `json:"value,omitempty"`
	Took     float64        `json:"took"`
	Values   map[string]any `json:"values,omitempty"`
	Failures []string       `json:"failures,omitempty"`
	Error    string         `json:"error,omitempty"`
}

// Hit is one fault applied to one target.
type Hit struct {
	FaultID     string   `json:"faultId"`
	Step        string   `json:"step"`
	Fault       string   `json:"fault"`
	Target      string   `json:"target"`
	InjectedAt  float64  `json:"injectedAt"`
	RecoveredAt *float64 `json:"recoveredAt,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// Metrics quantify the run. Times are in seconds; nil means it did not
// happen (nothing failed, so nothing was detected).
type Metrics struct {
	// TimeToDetect is from the first injection to the first failed
	// hypothesis sample.
	TimeToDetect *float64 `json:"timeToDetect,omitempty"`
	// TimeToRecover is from the last recovery to the first sample after
	// which every check held again.
	TimeToRecover *float64 `json:"timeToRecover,omitempty"`
	Impact        Impact   `json:"impact"`
}

// Impact sums up the harm seen during the run.
type Impact struct {
	Samples       int     `json:"samples"`
	FailedSamples int     `json:"failedSamples"`
	FailedShare   float64 `json:"failedShare"`
	// WorstLatency is the largest latency any check measured, in seconds.
	WorstLatency    *float64 `json:"worstLatency,omitempty"`
	FaultsInjected  int      `json:"faultsInjected"`
	FaultsRecovered int      `json:"faultsRecovered"`
}

// Journal is the whole record of a run.
type Journal struct {
	APIVersion string          `json:"apiVersion"`
	Run        string          `json:"run"`
	Experiment json.RawMessage `json:"experiment"`
	Name       string          `json:"name"`
	Host       string          `json:"host,omitempty"`
	Status     Status          `json:"status"`
	Reason     string          `json:"reason,omitempty"`
	DryRun     bool            `json:"dryRun,omitempty"`
	Started    time.Time       `json:"started"`
	Ended      time.Time       `json:"ended"`
	Events     []Event         `json:"events"`
	Checks     []*Series       `json:"checks"`
	Targets    []Hit           `json:"targets"`
	Metrics    Metrics         `json:"metrics"`
}

// Write stores the journal at path atomically (write then rename).
func (j *Journal) Write(path string) error {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return fmt.Errorf("encode journal: %w", err)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create journal directory: %w", err)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

// Read loads a journal and checks its version.
func Read(path string) (*Journal, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	if j.APIVersion != APIVersion {
		return nil, fmt.Errorf("read journal %s: apiVersion %q, this faultline reads %s", path, j.APIVersion, APIVersion)
	}
	return &j, nil
}
