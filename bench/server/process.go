package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverProcess is the faultline server under test.
type serverProcess struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

func (s *serverProcess) pid() int { return s.cmd.Process.Pid }

// startServer starts `faultline server` on a free loopback port with its
// state in dir, and reads its URL from stdout's first line.
func startServer(ctx context.Context, bin, dir string, c config) (*serverProcess, error) {
	args := []string{"server", "--addr", "127.0.0.1:0", "--state-dir", dir, "--log-level", "warn",
		"--poll-wait", c.pollWait.String(), "--lease", c.lease.String()}
	if c.db != "" {
		args = append(args, "--db", c.db)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "FAULTLINE_ADMIN_TOKEN="+adminToken)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start faultline server: %w", err)
	}
	s := &serverProcess{cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
	}()
	select {
	case u, ok := <-line:
		if !ok {
			return nil, errors.New("faultline server printed no URL")
		}
		s.url = u
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("faultline server exited: %v", err)
	case <-time.After(time.Minute):
		s.stop()
		return nil, errors.New("faultline server printed no URL in a minute")
	}
}

// stop ends the server (SIGTERM, then SIGKILL after 30s).
func (s *serverProcess) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// procCPU is a process's user+system CPU time so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) in ")": state
	// is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// procRSS is a process's resident memory in bytes.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}
