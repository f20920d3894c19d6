package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A fleet is one `faultline server` and three `faultline agent`s, each a
// process of its own, each agent with an agent token issued for its name
// and a victim process of its own to pause
// (named by ${env:VICTIM} in the experiment, which each agent reads from
// its own environment).
type fleet struct {
	t      *testing.T
	url    string
	token  string
	state  string // the server's state directory, kept across restarts
	server *exec.Cmd
	agents map[string]*fleetAgent
}

type fleetAgent struct {
	name, zone string
	token      string // an agent token issued for name
	state      string
	victim     *exec.Cmd
	proc       *exec.Cmd
}

const fleetLease = 5 * time.Second

const fleetExperiment = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: fleet-pause}
spec:
  method:
    - name: freeze this host's victim
      fault: process.pause
      target: {process: {cmdline: "${env:VICTIM}"}}
      duration: DURATION
`

func startFleet(t *testing.T) *fleet {
	t.Helper()
	f := &fleet{t: t, token: "fleet-admin-token-0123456789", state: t.TempDir(), agents: map[string]*fleetAgent{}}
	f.startServer()
	for i, zone := range []string{"a", "a", "b"} {
		name := fmt.Sprintf("fleet-%d", i+1)
		frac := fmt.Sprintf("0.%09d", time.Now().UnixNano()%1e9)
		victim := startVictim(t, frac)
		a := &fleetAgent{name: name, zone: zone, token: f.agentToken(name), state: t.TempDir(), victim: victim}
		f.agents[name] = a
		f.startAgent(a)
	}
	f.waitAgents(3)
	return f
}

// startVictim starts `sleep 300 FRACTION` in its own process group; the
// unique fraction names it.
func startVictim(t *testing.T, frac string) *exec.Cmd {
	t.Helper()
	c := exec.Command("sleep", "300", frac)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Signal(syscall.SIGCONT); c.Process.Kill(); c.Wait() })
	return c
}

func (f *fleet) startServer() {
	t := f.t
	c := exec.Command(bin, "server", "--addr", "127.0.0.1:0", "--state-dir", f.state, "--lease", fleetLease.String(), "--poll-wait", "1s", "--log-level", "warn")
	// The server validates documents with its own environment; each agent
	// resolves ${env:VICTIM} with its own when it runs them.
	c.Env = append(os.Environ(), "FAULTLINE_ADMIN_TOKEN="+f.token, "VICTIM=resolved-by-each-agent")
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Scan()
		line <- sc.Text()
		io.Copy(io.Discard, stdout)
	}()
	select {
	case u := <-line:
		if f.url != "" && u != f.url {
			// A restarted server listens on a new port; agents were told
			// the old one, so keep the first address.
			t.Fatalf("restarted server on %s, agents know %s", u, f.url)
		}
		f.url = u
	case <-time.After(20 * time.Second):
		t.Fatal("the server printed no URL")
	}
	f.server = c
}

// agentToken issues an agent token for the agent named name, as an
// operator does for each host.
func (f *fleet) agentToken(name string) string {
	var tok struct{ Secret string }
	f.api("POST", "/api/v1/tokens", map[string]string{"name": name, "role": "agent", "agent": name}, http.StatusCreated, &tok)
	return tok.Secret
}

func (f *fleet) startAgent(a *fleetAgent) {
	c := f.agentCmd(a.name, a.zone, a.token, a.state)
	c.Env = append(c.Env, "VICTIM="+strings.Join(a.victim.Args, " ")+"$")
	if err := c.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Process.Signal(syscall.SIGTERM); c.Wait() })
	a.proc = c
}

// agentCmd is `faultline agent` named name in zone, with token.
func (f *fleet) agentCmd(name, zone, token, state string) *exec.Cmd {
	c := exec.Command(bin, "agent", "--server", f.url, "--name", name, "--labels", "zone="+zone, "--state-dir", state)
	c.Env = append(os.Environ(), "FAULTLINE_AGENT_TOKEN="+token)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

// api sends an authenticated request and decodes the answer.
func (f *fleet) api(method, path string, body any, want int, out any) {
	f.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.url+path, r)
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		f.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

func (f *fleet) waitAgents(n int) {
	pollUntil(f.t, 20*time.Second, fmt.Sprintf("%d agents registered", n), func() bool {
		var agents []map[string]any
		f.api("GET", "/api/v1/agents", nil, http.StatusOK, &agents)
		live := 0
		for _, a := range agents {
			if a["status"] != "lost" {
				live++
			}
		}
		return live >= n
	})
}

// run creates the experiment with a duration and starts it on the agents
// the selector picks.
func (f *fleet) run(duration string, labels map[string]string, mode string) string {
	doc := strings.Replace(fleetExperiment, "DURATION", duration, 1)
	f.api("PUT", "/api/v1/experiments/fleet-pause", map[string]string{"document": doc}, http.StatusOK, nil)
	var run struct{ ID string }
	f.api("POST", "/api/v1/runs", map[string]any{"experiment": "fleet-pause", "agents": map[string]any{"labels": labels, "mode": mode}}, http.StatusCreated, &run)
	return run.ID
}

func (f *fleet) status(run string) string {
	var v struct{ Status string }
	f.api("GET", "/api/v1/runs/"+run, nil, http.StatusOK, &v)
	return v.Status
}

func paused(t *testing.T, a *fleetAgent) bool { return state(t, a.victim.Process.Pid) == 'T' }

func (f *fleet) waitPaused(names ...string) {
	for _, n := range names {
		a := f.agents[n]
		pollUntil(f.t, 30*time.Second, n+"'s victim paused", func() bool { return paused(f.t, a) })
	}
}

func (f *fleet) waitRunning(within time.Duration, names ...string) {
	for _, n := range names {
		a := f.agents[n]
		pollUntil(f.t, within, n+"'s victim running again", func() bool { return !paused(f.t, a) })
	}
}

// TestFleet runs experiments across a server and three agent processes.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and three agents")
	}
	f := startFleet(t)
	// The experiment is created once; later runs replace its document.
	doc := strings.Replace(fleetExperiment, "DURATION", "2s", 1)
	f.api("POST", "/api/v1/experiments", map[string]string{"document": doc}, http.StatusCreated, nil)

	t.Run("a run across agents chosen by labels and mode", func(t *testing.T) {
		run := f.run("2s", map[string]string{"zone": "a"}, "all")
		f.waitPaused("fleet-1", "fleet-2")
		if paused(t, f.agents["fleet-3"]) {
			t.Error("zone b's victim was paused by a run for zone a")
		}
		pollUntil(t, 30*time.Second, "the run held", func() bool { return f.status(run) != "running" && f.status(run) != "pending" })
		if r := f.reason(run); !strings.HasPrefix(r, "held") {
			t.Fatalf("run %s", r)
		}
		f.waitRunning(5*time.Second, "fleet-1", "fleet-2")
	})

	t.Run("halt-all recovers every fault on every agent", func(t *testing.T) {
		run := f.run("60s", nil, "all")
		f.waitPaused("fleet-1", "fleet-2", "fleet-3")
		f.api("POST", "/api/v1/halt", nil, http.StatusOK, nil)
		f.waitRunning(10*time.Second, "fleet-1", "fleet-2", "fleet-3")
		pollUntil(t, 30*time.Second, "the run aborted", func() bool { return f.status(run) == "aborted" })
	})

	t.Run("an agent killed with SIGKILL recovers its ledger when restarted", func(t *testing.T) {
		f.run("60s", map[string]string{"zone": "b"}, "all")
		f.waitPaused("fleet-3")
		a := f.agents["fleet-3"]
		a.proc.Process.Signal(syscall.SIGKILL)
		a.proc.Wait()
		time.Sleep(200 * time.Millisecond)
		if !paused(t, a) {
			t.Fatal("the victim resumed without its agent: the test must see the fault left behind")
		}
		f.startAgent(a)
		f.waitRunning(10*time.Second, "fleet-3")
	})

	t.Run("an agent token acts as its own agent only", func(t *testing.T) {
		// fleet-1's token, on a host that calls itself fleet-2.
		c := f.agentCmd("fleet-2", "impostor", f.agents["fleet-1"].token, t.TempDir())
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { c.Process.Signal(syscall.SIGTERM); c.Wait() }()
		var refused []struct{ Actor, Object string }
		pollUntil(t, 20*time.Second, "the impostor's registration refused and audited", func() bool {
			f.api("GET", "/api/v1/audit?action=agent.refused", nil, http.StatusOK, &refused)
			return len(refused) > 0
		})
		if r := refused[0]; r.Object != "agent/fleet-2" || !strings.HasPrefix(r.Actor, "fleet-1 (tok-") {
			t.Fatalf("audited %+v", r)
		}
		var agents []struct {
			Name   string
			Labels map[string]string
		}
		f.api("GET", "/api/v1/agents", nil, http.StatusOK, &agents)
		for _, a := range agents {
			if a.Labels["zone"] == "impostor" {
				t.Fatalf("the impostor changed agent %s", a.Name)
			}
		}
	})

	t.Run("the server killed mid-run: each agent recovers within its lease", func(t *testing.T) {
		f.waitAgents(3)
		f.run("60s", nil, "all")
		f.waitPaused("fleet-1", "fleet-2", "fleet-3")
		killed := time.Now()
		f.server.Process.Signal(syscall.SIGKILL)
		f.server.Wait()
		f.waitRunning(fleetLease+5*time.Second, "fleet-1", "fleet-2", "fleet-3")
		t.Logf("every agent recovered %s after the server died (lease %s)", time.Since(killed).Round(10*time.Millisecond), fleetLease)
	})
}

func (f *fleet) reason(run string) string {
	var v struct{ Status, Reason string }
	f.api("GET", "/api/v1/runs/"+run, nil, http.StatusOK, &v)
	return v.Status + ": " + v.Reason
}
