// Package procfs reads what faultline needs of Linux's /proc: the process
// list, a process's identity (pid plus start time, so a reused pid is never
// mistaken for the original), its command line, owner and environment tags.
package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// Root is where procfs is mounted.
var Root = "/proc"

// Stat is the part of /proc/PID/stat faultline uses.
type Stat struct {
	PID   int
	Comm  string
	State byte
	PPID  int
	PGID  int
	// StartTime is in clock ticks after boot; with PID it names one
	// process for its whole life.
	StartTime uint64
}

// ErrGone means the process does not exist (any more).
var ErrGone = errors.New("process does not exist")

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(filepath.Join(Root, strconv.Itoa(pid), "stat"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrProcessDone) {
			return Stat{}, fmt.Errorf("pid %d: %w", pid, ErrGone)
		}
		return Stat{}, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return parseStat(pid, b)
}

func parseStat(pid int, b []byte) (Stat, error) {
	// comm is in parentheses and may itself hold spaces and parentheses.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Stat{}, fmt.Errorf("parse stat of pid %d: no command name", pid)
	}
	rest := strings.Fields(string(b[end+1:]))
	// rest[0] is field 3 (state); starttime is field 22.
	if len(rest) < 20 {
		return Stat{}, fmt.Errorf("parse stat of pid %d: %d fields", pid, len(rest)+2)
	}
	s := Stat{PID: pid, Comm: string(b[open+1 : end]), State: rest[0][0]}
	var err1, err2, err3 error
	s.PPID, err1 = strconv.Atoi(rest[1])
	s.PGID, err2 = strconv.Atoi(rest[2])
	s.StartTime, err3 = strconv.ParseUint(rest[19], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Stat{}, fmt.Errorf("parse stat of pid %d: %w", pid, err)
	}
	return s, nil
}

// Alive reports whether the process pid that started at startTime still
// exists (a zombie counts as gone).
func Alive(pid int, startTime uint64) bool {
	s, err := ReadStat(pid)
	return err == nil && s.StartTime == startTime && s.State != 'Z' && s.State != 'X'
}

// PIDs lists every process id.
func PIDs() ([]int, error) {
	ents, err := os.ReadDir(Root)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	pids := make([]int, 0, len(ents))
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Cmdline returns the process's arguments joined by spaces ("" for kernel
// threads).
func Cmdline(pid int) (string, error) {
	b, err := os.ReadFile(filepath.Join(Root, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return "", fmt.Errorf("read cmdline of pid %d: %w", pid, err)
	}
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))), nil
}

// UID returns the real user id of the process.
func UID(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join(Root, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, fmt.Errorf("status of pid %d has no Uid line", pid)
}

// UserName returns the login name for uid, or the number when unknown.
func UserName(uid int) string {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return strconv.Itoa(uid)
	}
	return u.Username
}

// HasEnv reports whether the process's environment holds key=value.
// Processes whose environment cannot be read (other users') report false.
func HasEnv(pid int, key, value string) bool {
	b, err := os.ReadFile(filepath.Join(Root, strconv.Itoa(pid), "environ"))
	if err != nil {
		return false
	}
	want := []byte(key + "=" + value)
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// FindByEnv lists the live processes whose environment holds key=value.
func FindByEnv(key, value string) ([]Stat, error) {
	pids, err := PIDs()
	if err != nil {
		return nil, err
	}
	var out []Stat
	for _, pid := range pids {
		if !HasEnv(pid, key, value) {
			continue
		}
		if s, err := ReadStat(pid); err == nil && s.State != 'Z' {
			out = append(out, s)
		}
	}
	return out, nil
}

// Self returns the calling process's identity.
func Self() (Stat, error) { return ReadStat(os.Getpid()) }
