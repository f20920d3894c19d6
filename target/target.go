// Package target resolves selectors into concrete targets (a process, the
// local host, a network namespace) and applies the blast-radius mode that
// picks among them.
package target

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/faultline-dev/faultline/internal/procfs"
)

// Type names what kind of thing a target is.
type Type string

// Target types.
const (
	Process Type = "process"
	Host    Type = "host"
	// Netns is a named network namespace (/run/netns/NAME).
	Netns Type = "netns"
)

// NetnsDir is where named network namespaces are bound, as `ip netns` does.
var NetnsDir = "/run/netns"

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
	// Netns names a netns target.
	Netns string `json:"netns,omitempty"`
	// Interface is the network interface a host or netns target was
	// given ("": its default route's).
	Interface string `json:"interface,omitempty"`
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
	case Netns:
		return "netns:" + t.Netns
	}
	return string(t.Type)
}

func (t Target) String() string {
	var s string
	switch t.Type {
	case Process:
		return fmt.Sprintf("pid %d (%s)", t.PID, t.Name)
	case Host:
		s = "host " + t.Host
	case Netns:
		s = "netns " + t.Netns
	default:
		return string(t.Type)
	}
	if t.Interface != "" {
		s += " interface " + t.Interface
	}
	return s
}

// Alive reports whether the target still exists: for a process, the same
// pid with the same start time; for a netns, its name still bound. Hosts
// are always alive.
func (t Target) Alive() bool {
	switch t.Type {
	case Process:
		return procfs.Alive(t.PID, t.StartTime)
	case Netns:
		_, err := os.Stat(filepath.Join(NetnsDir, t.Netns))
		return err == nil
	}
	return true
}

// OpenNetNS opens the file naming the target's network namespace, to setns
// into or hand to netlink: /proc/PID/ns/net for a process (opened, then
// checked to be still the same process, so a reused pid is never
// entered), NetnsDir/NAME for a netns. For the host it returns nil: the
// caller's own namespace.
func (t Target) OpenNetNS() (*os.File, error) {
	var path string
	switch t.Type {
	case Host:
		return nil, nil
	case Process:
		path = filepath.Join(procfs.Root, strconv.Itoa(t.PID), "ns", "net")
	case Netns:
		path = filepath.Join(NetnsDir, t.Netns)
	default:
		return nil, fmt.Errorf("a %s target has no network namespace", t.Type)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open the network namespace of %s: %w", t, err)
	}
	if t.Type == Process && !procfs.Alive(t.PID, t.StartTime) {
		f.Close()
		return nil, fmt.Errorf("open the network namespace of %s: %w", t, procfs.ErrGone)
	}
	return f, nil
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
