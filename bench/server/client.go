package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// client calls the server's API with one token over a shared pool of
// connections.
type client struct {
	base  string
	token string
	hc    *http.Client
}

func newClient(base, token string, conns int) *client {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: 5 * time.Minute}
	return &client{base: base, token: token, hc: &http.Client{Transport: tr}}
}

func (c *client) withToken(token string) *client {
	return &client{base: c.base, token: token, hc: c.hc}
}

// call sends a request and decodes a 2xx answer into out.
func (c *client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *client) newToken(ctx context.Context, name, role string) (string, error) {
	var out struct{ Secret string }
	err := c.call(ctx, "POST", "/api/v1/tokens", map[string]string{"name": name, "role": role}, &out)
	return out.Secret, err
}

func (c *client) createExperiment(ctx context.Context, doc string) error {
	return c.call(ctx, "POST", "/api/v1/experiments", map[string]string{"document": doc}, nil)
}

func (c *client) startRun(ctx context.Context, experiment string, labels map[string]string) (string, error) {
	var out struct{ ID string }
	err := c.call(ctx, "POST", "/api/v1/runs", map[string]any{"experiment": experiment, "agents": map[string]any{"labels": labels}}, &out)
	return out.ID, err
}

func (c *client) haltAll(ctx context.Context) error {
	return c.call(ctx, "POST", "/api/v1/halt", map[string]string{"reason": "benchmark"}, nil)
}

// timeListAgents times one listing of every agent.
func (c *client) timeListAgents(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	var agents []json.RawMessage
	err := c.call(ctx, "GET", "/api/v1/agents", nil, &agents)
	return time.Since(start), err
}

// openFaults is the sum of the agents' open faults.
func (c *client) openFaults(ctx context.Context) (int, error) {
	var agents []struct{ OpenFaults int }
	if err := c.call(ctx, "GET", "/api/v1/agents", nil, &agents); err != nil {
		return 0, err
	}
	open := 0
	for _, a := range agents {
		open += a.OpenFaults
	}
	return open, nil
}

// waitNoOpenFaults polls the agents' open faults until none is left, and
// returns how long after since that was.
func (c *client) waitNoOpenFaults(ctx context.Context, since time.Time, within time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(within)
	for {
		open, err := c.openFaults(ctx)
		if err != nil {
			return 0, err
		}
		if open == 0 {
			return time.Since(since), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d faults still open %s after halt-all", open, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitOpenFaults waits until the agents report n open faults.
func (c *client) waitOpenFaults(ctx context.Context, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		open, err := c.openFaults(ctx)
		if err != nil {
			return err
		}
		if open == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d faults open after %s", open, n, within)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// apiCall is one kind of request the measurement sends.
type apiCall struct {
	name   string
	method string
	path   func(agent string) string
	body   any
}

var apiCalls = []apiCall{
	{name: "GET /api/v1/runs?limit=20", method: "GET", path: func(string) string { return "/api/v1/runs?limit=20" }},
	{name: "GET /api/v1/experiments", method: "GET", path: func(string) string { return "/api/v1/experiments" }},
	{name: "GET /api/v1/agents/{id}", method: "GET", path: func(id string) string { return "/api/v1/agents/" + id }},
	{name: "GET /api/v1/audit?limit=50", method: "GET", path: func(string) string { return "/api/v1/audit?limit=50" }},
	{name: "POST /api/v1/experiments/validate", method: "POST", path: func(string) string { return "/api/v1/experiments/validate" },
		body: map[string]string{"document": busyExperiment}},
}

// measure sends rate API requests per second, round robin over apiCalls,
// for d, and returns their latencies by call.
func (c *client) measure(ctx context.Context, d time.Duration, rate int, agents []string) (map[string][]time.Duration, error) {
	var mu sync.Mutex
	out := map[string][]time.Duration{}
	var firstErr error
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.After(d)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-end:
			wg.Wait()
			return out, firstErr
		case <-tick.C:
		}
		call := apiCalls[i%len(apiCalls)]
		agent := agents[rand.IntN(len(agents))]
		wg.Go(func() {
			start := time.Now()
			err := c.call(ctx, call.method, call.path(agent), call.body, nil)
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out[call.name] = append(out[call.name], took)
		})
	}
}
