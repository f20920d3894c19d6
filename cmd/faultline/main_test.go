package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/journal"
)

// bin is the faultline binary under test, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	if runWorkerIfRequested() {
		return
	}
	dir, err := os.MkdirTemp("", "faultline-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "faultline")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build faultline: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// storefront is a demo storefront started for one test.
type storefront struct {
	url       string
	backendRE string // matches this test's backends only
	backends  []*exec.Cmd
	frontend  *exec.Cmd
}

// startProcess starts a faultline subcommand in its own process group
// (so pausing a group never stops the test) and ends it at cleanup.
func startProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(bin, args...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Signal(syscall.SIGCONT)
		c.Process.Kill()
		c.Wait()
	})
	return c
}

func startStorefront(t *testing.T, n int) *storefront {
	t.Helper()
	s := &storefront{}
	var addrs, ports []string
	for i := 0; i < n; i++ {
		p := freePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		addrs = append(addrs, addr)
		ports = append(ports, fmt.Sprint(p))
		s.backends = append(s.backends, startProcess(t, "demo", "serve", "backend", "--addr", addr))
	}
	s.backendRE = `127\.0\.0\.1:(` + strings.Join(ports, "|") + `)$`
	front := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.frontend = startProcess(t, "demo", "serve", "frontend", "--addr", front, "--backends", strings.Join(addrs, ","))
	s.url = "http://" + front
	for _, a := range append(addrs, front) {
		waitFor(t, a)
	}
	return s
}

func waitFor(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not start listening", addr)
}

// env is the environment for one faultline run: its own ledger, and the
// variables the testdata experiments refer to.
type env struct {
	dir    string
	ledger string
	vars   []string
}

func newEnv(t *testing.T, s *storefront) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, ledger: filepath.Join(dir, "ledger.jsonl")}
	e.vars = []string{"FAULTLINE_LEDGER=" + e.ledger, "NO_COLOR=1", "DEAD_ADDR=127.0.0.1:" + fmt.Sprint(freePort(t))}
	if s != nil {
		e.vars = append(e.vars, "FRONT_URL="+s.url, "BACKEND_RE="+s.backendRE)
	}
	return e
}

type result struct {
	code           int
	stdout, stderr string
	journal        *journal.Journal
}

// faultline runs the binary to completion (bounded) and reads the journal
// it wrote, if any.
func (e *env) faultline(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, bin, args...)
	c.Dir = e.dir
	c.Env = append(os.Environ(), e.vars...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("faultline %v: %v", args, err)
	}
	if j, err := journal.Read(filepath.Join(e.dir, "journal.json")); err == nil {
		r.journal = j
	}
	return r
}

// state is a process's state letter: R/S running or sleeping, T stopped.
func state(t *testing.T, pid int) byte {
	t.Helper()
	st, err := procfs.ReadStat(pid)
	if err != nil {
		t.Fatalf("pid %d: %v", pid, err)
	}
	return st.State
}

func assertRunning(t *testing.T, cmds ...*exec.Cmd) {
	t.Helper()
	for _, c := range cmds {
		if s := state(t, c.Process.Pid); s == 'T' || s == 't' {
			t.Errorf("pid %d is still stopped (state %c): a fault was left behind", c.Process.Pid, s)
		}
	}
}

func testdata(name string) string {
	p, _ := filepath.Abs(filepath.Join("testdata", name))
	return p
}

// pollUntil waits (bounded) for cond.
func pollUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
