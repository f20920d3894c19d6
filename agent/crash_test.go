package agent

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/agent/protocol"
)

var (
	buildOnce sync.Once
	binDir    string
	binErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// faultlineBin builds cmd/faultline once, for the tests that run the agent
// as its own process.
func faultlineBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "faultline-agent-bin-"); binErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "faultline"), "../cmd/faultline").CombinedOutput()
		if err != nil {
			binErr = &buildError{err: err, out: string(out)}
		}
	})
	if binErr != nil {
		t.Fatalf("build faultline: %v", binErr)
	}
	return filepath.Join(binDir, "faultline")
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// startAgentProcess runs `faultline agent` against s; at cleanup it is
// told to stop (SIGTERM), and killed if it does not within 10s.
func startAgentProcess(t *testing.T, s *fakeServer, name, stateDir string, env ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(faultlineBin(t), "agent", "--server", s.url, "--labels", "zone=a,role=db",
		"--name", name, "--state-dir", stateDir, "--lease-grace", "200ms")
	c.Env = append(os.Environ(), env...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Stderr = testWriter{t}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.ProcessState != nil {
			return // already waited for
		}
		c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("agent pid %d did not stop within 10s of SIGTERM", c.Process.Pid)
			c.Process.Kill()
			<-done
		}
	})
	return c
}

func TestRestartedAgentRecoversWhatACrashLeft(t *testing.T) {
	s := newFakeServer(t, 2*time.Second, testWait)
	state := t.TempDir()
	pid := startSleep(t)
	token := "FAULTLINE_AGENT_TOKEN=" + s.token

	first := startAgentProcess(t, s, "crash-agent", state, token)
	s.waitFor(20*time.Second, "crash-agent", "the agent to register", func(a *fakeAgent) bool { return len(a.registrations) == 1 })
	s.assign("crash-agent", protocol.Assignment{ID: "asg-1", RunID: "run-1", Experiment: pauseDoc(pid, "60s")})
	waitStopped(t, pid, true, 5*time.Second)
	s.waitFor(3*time.Second, "crash-agent", "the fault reported open", func(a *fakeAgent) bool { return len(a.openFaults) == 1 })
	var faultID string
	s.read("crash-agent", func(a *fakeAgent) { faultID = a.openFaults[0].ID })

	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	time.Sleep(100 * time.Millisecond)
	if !stopped(t, pid) {
		t.Fatal("the pause went away with the agent: nothing left for the restarted agent to recover")
	}

	// The restarted agent recovers before it reaches the server: keep the
	// server dark until the pause is gone.
	s.setDark(true)
	startAgentProcess(t, s, "crash-agent", state, token)
	waitStopped(t, pid, false, 10*time.Second)
	s.setDark(false)

	s.waitFor(10*time.Second, "crash-agent", "the second registration", func(a *fakeAgent) bool { return len(a.registrations) == 2 })
	s.read("crash-agent", func(a *fakeAgent) {
		rec := a.registrations[1].Recovered
		want := protocol.RecoveredFault{ID: faultID, Kind: "process.pause", RunID: "run-1", Reason: ReasonRestarted}
		if len(rec) != 1 {
			t.Fatalf("second registration reports %+v, want one %+v", rec, want)
		}
		got := rec[0]
		if got.At.IsZero() {
			t.Errorf("recovered fault has no time")
		}
		got.At = time.Time{}
		if got != want {
			t.Errorf("recovered %+v, want %+v", got, want)
		}
		if r := a.registrations[1]; r.Labels["role"] != "db" || os.Geteuid() == 0 && !slices.Contains(r.Features, "root") {
			t.Errorf("registration: labels %v, features %v", r.Labels, r.Features)
		}
	})
	s.waitFor(3*time.Second, "crash-agent", "a poll with no open fault", func(a *fakeAgent) bool {
		return len(a.polls) > 0 && len(a.openFaults) == 0
	})
}

func TestAgentCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no server", []string{"agent", "--token", "t"}, "--server and --token"},
		{"no token", []string{"agent", "--server", "http://127.0.0.1:7400"}, "--server and --token"},
		{"bad server", []string{"agent", "--server", "127.0.0.1:7400", "--token", "t"}, "not an http:// or https:// URL"},
		{"bad labels", []string{"agent", "--server", "http://127.0.0.1:7400", "--token", "t", "--labels", "zone"}, "labels"},
		{"ledger does not apply", []string{"agent", "--server", "http://127.0.0.1:7400", "--token", "t", "--ledger", "x"}, "--state-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := exec.Command(faultlineBin(t), tt.args...)
			c.Env = append(os.Environ(), "FAULTLINE_AGENT_TOKEN=")
			out, err := c.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2 (usage)\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output %q does not mention %q", out, tt.want)
			}
		})
	}
}
