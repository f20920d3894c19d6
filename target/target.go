// Package target resolves selectors into concrete targets (a process, the
// local host) and applies the blast-radius mode that picks among them.
package target

import (
	"fmt"
	"os"

	"github.com/faultline-dev/faultline/internal/procfs"
)

// Type names what kind of thing a target is.
type Type string

// Target types.
const (
	Process Type = "process"
	Host    Type = "host"
)

// Target is one concrete thing a fault acts on. It is serialised into ledger
// records, so it holds everything needed to find the thing again: a process
// is its pid together with its start time, so a reused pid is never hit.
type Target struct {
	Type      Type   `json:"type"`
	PID       int    `json:"pid,omitempty"`
	StartTime uint64 `json:"startTime,omitempty"`
	Name      string `json:"name,omitempty"`
	Cmdline   string `json:"cmdline,omitempty"`
	User      string `json:"user,omitempty"`
	Host      string `json:"host,omitempty"`
}

// LocalHost is the target of faults that act on the machine itself.
func LocalHost() Target {
	h, _ := os.Hostname()
	return Target{Type: Host, Host: h}
}

// ID is a short stable identity for logs and journals.
func (t Target) ID() string {
	switch t.Type {
	case Process:
		return fmt.Sprintf("pid:%d", t.PID)
	case Host:
		return "host:" + t.Host
	}
	return string(t.Type)
}

func (t Target) String() string {
	switch t.Type {
	case Process:
		return fmt.Sprintf("pid %d (%s)", t.PID, t.Name)
	case Host:
		return "host " + t.Host
	}
	return string(t.Type)
}

// Alive reports whether the target still exists: for a process, the same
// pid with the same start time. Hosts are always alive.
func (t Target) Alive() bool {
	if t.Type != Process {
		return true
	}
	return procfs.Alive(t.PID, t.StartTime)
}

// FromPID describes a running process as a target.
func FromPID(pid int) (Target, error) {
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return Target{}, err
	}
	t := Target{Type: Process, PID: pid, StartTime: st.StartTime, Name: st.Comm}
	t.Cmdline, _ = procfs.Cmdline(pid)
	if uid, err := procfs.UID(pid); err == nil {
		t.User = procfs.UserName(uid)
	}
	return t, nil
}
