package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/journal"
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

// fleetMeasured has a check whose series has a measure, a unit and a
// tolerance; URL is a page on loopback.
const fleetMeasured = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: fleet-measured}
spec:
  hypothesis:
    every: 100ms
    checks:
      - name: the page answers fast
        http: {url: "URL", timeout: 1s}
        expect: {status: 200, latency: "< 2s"}
  method:
    - name: settle
      wait: 600ms
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

	t.Run("a run on an agent has the series of a local run", func(t *testing.T) {
		page := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		defer page.Close()
		doc := strings.ReplaceAll(fleetMeasured, "URL", page.URL)
		file := filepath.Join(t.TempDir(), "measured.yaml")
		if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		run := exec.Command(bin, "run", "--quiet", "--journal", filepath.Join(dir, "journal.json"), "--ledger", filepath.Join(dir, "ledger.jsonl"), file)
		if out, err := run.CombinedOutput(); err != nil {
			t.Fatalf("faultline run: %v\n%s", err, out)
		}
		var local journal.Journal
		b, err := os.ReadFile(filepath.Join(dir, "journal.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &local); err != nil {
			t.Fatal(err)
		}

		f.api("POST", "/api/v1/experiments", map[string]string{"document": doc}, http.StatusCreated, nil)
		var r struct{ ID string }
		f.api("POST", "/api/v1/runs", map[string]any{"experiment": "fleet-measured", "agents": map[string]any{"labels": map[string]string{"zone": "b"}}}, http.StatusCreated, &r)
		pollUntil(t, 30*time.Second, "the run on fleet-3 ended", func() bool { s := f.status(r.ID); return s != "running" && s != "pending" })
		var merged journal.Journal
		f.api("GET", "/api/v1/runs/"+r.ID+"/journal", nil, http.StatusOK, &merged)

		if len(local.Checks) != 1 || len(merged.Checks) != 1 {
			t.Fatalf("series: local %d, on the agent %d", len(local.Checks), len(merged.Checks))
		}
		l, m := local.Checks[0], merged.Checks[0]
		if l.Measure != "latency" || l.Unit != "s" || l.Tolerance != "< 2s" {
			t.Fatalf("local series %+v", l)
		}
		if m.Check != "fleet-3/"+l.Check || m.Kind != l.Kind || m.Measure != l.Measure || m.Unit != l.Unit || m.Tolerance != l.Tolerance || len(m.Samples) == 0 {
			t.Fatalf("series on the agent %q %s %q %q %q (%d samples), local %q %s %q %q %q",
				m.Check, m.Kind, m.Measure, m.Unit, m.Tolerance, len(m.Samples), l.Check, l.Kind, l.Measure, l.Unit, l.Tolerance)
		}
		// The samples the agent streamed while it ran, which the
		// dashboard charts live, say the same.
		samples := f.samples(r.ID)
		if len(samples) == 0 {
			t.Fatal("the agent streamed no sample")
		}
		for _, smp := range samples {
			if smp.Check != l.Check || smp.Kind != l.Kind || smp.Measure != l.Measure || smp.Unit != l.Unit || smp.Tolerance != l.Tolerance {
				t.Fatalf("streamed sample %+v, local series %q %s %q %q %q", smp, l.Check, l.Kind, l.Measure, l.Unit, l.Tolerance)
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

// streamedSample is a sample event as the server streams it.
type streamedSample struct{ Check, Kind, Measure, Unit, Tolerance string }

// samples reads the event stream of an ended run (it closes after its
// end event) and returns its samples.
func (f *fleet) samples(run string) []streamedSample {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.url+"/api/v1/runs/"+run+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []streamedSample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for name := ""; sc.Scan(); {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && name == "sample":
			var d struct{ Event streamedSample }
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d); err != nil {
				f.t.Fatalf("sample %s: %v", line, err)
			}
			out = append(out, d.Event)
		}
	}
	if err := sc.Err(); err != nil {
		f.t.Fatalf("events of %s: %v", run, err)
	}
	return out
}

func (f *fleet) reason(run string) string {
	var v struct{ Status, Reason string }
	f.api("GET", "/api/v1/runs/"+run, nil, http.StatusOK, &v)
	return v.Status + ": " + v.Reason
}
