package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/agent/protocol"
	"github.com/faultline-dev/faultline/engine"
	_ "github.com/faultline-dev/faultline/fault/process" // process.pause for the runs on the server
	"github.com/faultline-dev/faultline/ledger"
	"github.com/faultline-dev/faultline/server/webhook"
	"github.com/faultline-dev/faultline/store"
	"github.com/faultline-dev/faultline/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

const adminSecret = "fl_test-admin-secret"

// backends are the stores the main flows run against.
var backends = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return store.DefaultURL(t.TempDir()) }},
	{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
}

// env is a real server on a real store, served by httptest on loopback,
// with a token per role and a webhook receiver.
type env struct {
	t      *testing.T
	st     store.Store
	url    string
	dbURL  string
	ledger *ledger.Ledger
	srv    *Server
	hs     *httptest.Server
	hooks  *hookReceiver
	cancel context.CancelFunc
	done   chan struct{}
	log    *testLog

	admin, runner, viewer, agent string
}

type envOptions struct {
	dbURL      string
	lease      time.Duration
	pollWait   time.Duration
	stateDir   string
	adminToken string
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.dbURL == "" {
		o.dbURL = store.DefaultURL(t.TempDir())
	}
	if o.lease == 0 {
		o.lease = 2 * time.Second
	}
	if o.pollWait == 0 {
		o.pollWait = 500 * time.Millisecond
	}
	if o.stateDir == "" {
		o.stateDir = t.TempDir()
	}
	if o.adminToken == "" {
		o.adminToken = adminSecret
	}
	ctx := context.Background()
	st, err := store.Open(ctx, o.dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(o.stateDir, "server-ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	hooks := newHookReceiver(t)
	lg := &testLog{t: t}
	srv, err := New(ctx, Config{
		Store: st, Ledger: l, Catalog: engine.Catalog(), Logger: slog.New(slog.NewTextHandler(lg, nil)),
		Lease: o.lease, PollWait: o.pollWait, AdminToken: o.adminToken, Webhooks: []string{hooks.url},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, dbURL: o.dbURL, ledger: l, srv: srv, hooks: hooks, log: lg, admin: o.adminToken}
	e.hs = httptest.NewServer(srv.Handler())
	e.url = e.hs.URL
	rctx, cancel := context.WithCancel(ctx)
	e.cancel, e.done = cancel, make(chan struct{})
	go func() { srv.Run(rctx); close(e.done) }()
	t.Cleanup(e.stop)
	return e
}

// stop closes the server as main does: runs halted, background work
// ended, connections closed, store closed.
func (e *env) stop() {
	if e.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		e.t.Error(err)
	}
	e.cancel()
	<-e.done
	e.hs.Close()
	e.st.Close()
	e.log.close()
	e.srv = nil
}

// withTokens creates a runner, a viewer and an agent token (for the
// agent named "agent").
func (e *env) withTokens() *env {
	e.runner = e.newToken("runner", "runner", "")
	e.viewer = e.newToken("viewer", "viewer", "")
	e.agent = e.agentToken("agent")
	return e
}

// agentToken creates a token for the agent named name.
func (e *env) agentToken(name string) string {
	var tok newToken
	e.do("POST", "/api/v1/tokens", e.admin, tokenRequest{Name: "agent " + name, Role: "agent", Agent: name}, http.StatusCreated, &tok)
	return tok.Secret
}

func (e *env) newToken(name, role, expiresIn string) string {
	var tok newToken
	e.do("POST", "/api/v1/tokens", e.admin, map[string]string{"name": name, "role": role, "expiresIn": expiresIn}, http.StatusCreated, &tok)
	return tok.Secret
}

// request sends a request and returns the answer's status and body.
func (e *env) request(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// do sends a request, wants status, and decodes the answer into out.
func (e *env) do(method, path, token string, body any, status int, out any) {
	e.t.Helper()
	got, b := e.request(method, path, token, body)
	if got != status {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, got, b, status)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// document reads a testdata document with $NAME placeholders replaced.
func document(t *testing.T, file string, vars ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(vars...).Replace(string(b))
}

// createExperiment stores a document and returns its name.
func (e *env) createExperiment(doc string) string {
	e.t.Helper()
	var v store.ExperimentVersion
	e.do("POST", "/api/v1/experiments", e.runner, documentRequest{Document: doc}, http.StatusCreated, &v)
	return v.Experiment
}

func (e *env) startRun(req startRequest) store.Run {
	e.t.Helper()
	var run store.Run
	e.do("POST", "/api/v1/runs", e.runner, req, http.StatusCreated, &run)
	return run
}

// waitRun polls until the run has ended, and returns it.
func (e *env) waitRun(id string, within time.Duration) runView {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var v runView
		e.do("GET", "/api/v1/runs/"+id, e.viewer, nil, http.StatusOK, &v)
		if !v.Status.Active() {
			return v
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %s still %s after %s", id, v.Status, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// counts is a snapshot of how much the store holds, to show a refused
// request changed nothing.
type counts struct {
	Experiments, Versions, Runs, Tokens, Revoked, Webhooks, Schedules, Audit, Agents int
}

func (e *env) counts() counts {
	e.t.Helper()
	ctx := context.Background()
	var c counts
	exps, err := e.st.Experiments(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	c.Experiments = len(exps)
	for _, x := range exps {
		c.Versions += x.CurrentVersion
	}
	runs, _ := e.st.Runs(ctx, store.RunFilter{Limit: 100000})
	toks, _ := e.st.Tokens(ctx)
	whs, _ := e.st.Webhooks(ctx)
	scs, _ := e.st.Schedules(ctx)
	aud, _ := e.st.Audit(ctx, store.AuditFilter{Limit: 100000})
	ags, _ := e.st.Agents(ctx)
	for _, t := range toks {
		if !t.Revoked.IsZero() {
			c.Revoked++
		}
	}
	c.Runs, c.Tokens, c.Webhooks, c.Schedules, c.Audit, c.Agents = len(runs), len(toks), len(whs), len(scs), len(aud), len(ags)
	return c
}

// sleeper starts a process for faults to act on and ends it with the test.
func sleeper(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

// stopped reports whether a process is stopped (SIGSTOP).
func stopped(t *testing.T, pid int) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "State:") {
			return strings.Contains(line, "T (stopped)")
		}
	}
	return false
}

// sse is a client of a run's event stream.
type sse struct {
	resp   *http.Response
	events chan sseEvent
}

type sseEvent struct {
	id   int64
	name string
	data string
	at   time.Time
}

func (e *env) stream(run string, lastID int64) *sse {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/api/v1/runs/"+run+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.viewer)
	if lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		e.t.Fatalf("event stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{resp: resp, events: make(chan sseEvent, 1000)}
	e.t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" || ev.data != "" {
					ev.at = time.Now()
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id, _ = strconv.ParseInt(line[4:], 10, 64)
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return s
}

// until reads events up to and including the first named name.
func (s *sse) until(t *testing.T, name string, within time.Duration) []sseEvent {
	t.Helper()
	var got []sseEvent
	timeout := time.After(within)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("stream ended before %q; got %v", name, names(got))
			}
			got = append(got, ev)
			if ev.name == name {
				return got
			}
		case <-timeout:
			t.Fatalf("no %q event within %s; got %v", name, within, names(got))
		}
	}
}

func names(evs []sseEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.name
	}
	return out
}

// testAgent speaks the agent side of the protocol, as a test drives it.
type testAgent struct {
	e     *env
	name  string
	id    string
	token string
}

func (e *env) newAgent(name string, labels map[string]string) *testAgent {
	e.t.Helper()
	a := &testAgent{e: e, name: name, token: e.agentToken(name)}
	var reg protocol.Registered
	e.do("POST", "/api/v1/agents/register", a.token, protocol.Register{Name: name, Hostname: name + ".test", Labels: labels, Version: "test"}, http.StatusOK, &reg)
	if reg.AgentID == "" || time.Duration(reg.Lease) == 0 {
		e.t.Fatalf("registered %+v", reg)
	}
	a.id = reg.AgentID
	return a
}

// poll sends one poll and returns the answer and how long it took.
func (a *testAgent) poll(p protocol.Poll) (protocol.PollReply, time.Duration) {
	a.e.t.Helper()
	start := time.Now()
	var reply protocol.PollReply
	a.e.do("POST", "/api/v1/agents/"+a.id+"/poll", a.token, p, http.StatusOK, &reply)
	return reply, time.Since(start)
}

// pollAsync sends a poll from another goroutine.
func (a *testAgent) pollAsync(p protocol.Poll) <-chan protocol.PollReply {
	ch := make(chan protocol.PollReply, 1)
	body, _ := json.Marshal(p)
	go func() {
		defer close(ch)
		req, _ := http.NewRequest("POST", a.e.url+"/api/v1/agents/"+a.id+"/poll", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		var reply protocol.PollReply
		if resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&reply) == nil {
			ch <- reply
		}
	}()
	return ch
}

// hookReceiver is a webhook endpoint on loopback that records what it
// gets.
type hookReceiver struct {
	url string
	mu  sync.Mutex
	got []webhook.Event
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e webhook.Event
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, e)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// wait returns the first event of kind (for run, unless "") within d.
func (h *hookReceiver) wait(t *testing.T, kind, run string, d time.Duration) webhook.Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		h.mu.Lock()
		for _, e := range h.got {
			if e.Kind == kind && (run == "" || e.Run == run) {
				h.mu.Unlock()
				return e
			}
		}
		h.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s webhook for run %q within %s", kind, run, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testLog passes the server's log to the test's, until the test ends.
type testLog struct {
	mu     sync.Mutex
	t      *testing.T
	closed bool
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}
