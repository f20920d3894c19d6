package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestLoadCommand(t *testing.T) {
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("X-Test") == "yes" {
			posts.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, nil)

	r := e.faultline(t, "load", srv.URL, "--rate", "100", "--duration", "500ms", "--json", "--method", "POST", "--header", "X-Test: yes", "--body", "{}")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var got struct {
		Model        string           `json:"model"`
		TargetRate   float64          `json:"targetRate"`
		Requests     int64            `json:"requests"`
		SuccessRatio float64          `json:"successRatio"`
		Status       map[string]int   `json:"status"`
		Latency      map[string]int64 `json:"latency"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if got.Model != "open" || got.TargetRate != 100 || got.Requests != 50 || got.SuccessRatio != 1 || got.Status["200"] != 50 || got.Latency["p99"] <= 0 {
		t.Errorf("summary %+v", got)
	}
	if posts.Load() != 50 {
		t.Errorf("the server got %d POSTs with the header, want 50", posts.Load())
	}

	r = e.faultline(t, "load", srv.URL, "--rate", "0", "--concurrency", "2", "--duration", "200ms")
	if r.code != 0 || !strings.Contains(r.stdout, "closed model, 2 workers") || !strings.Contains(r.stdout, "latency   p50") {
		t.Errorf("human summary: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestLoadBadFlagsIsAUsageError(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"load"}, "accepts 1 arg"},
		{[]string{"load", "127.0.0.1:8080"}, "URL: \"127.0.0.1:8080\" is not an absolute http or https URL"},
		{[]string{"load", "http://127.0.0.1:1/", "--rate", "-1"}, "--rate: -1 is outside"},
		{[]string{"load", "http://127.0.0.1:1/", "--rate", "fast"}, "invalid argument"},
		{[]string{"load", "http://127.0.0.1:1/", "--duration", "0s"}, "--duration must be above zero"},
		{[]string{"load", "http://127.0.0.1:1/", "--concurrency", "0"}, "--concurrency must be at least 1"},
		{[]string{"load", "http://127.0.0.1:1/", "--max-in-flight", "1", "--concurrency", "4"}, "--max-in-flight: 1 is below concurrency 4"},
		{[]string{"load", "http://127.0.0.1:1/", "--method", "get"}, "--method: methods are case-sensitive"},
		{[]string{"load", "http://127.0.0.1:1/", "--header", "nocolon"}, "want 'Name: value'"},
		{[]string{"load", "http://127.0.0.1:1/", "--expect-status", "fine"}, "--expect-status: bad tolerance"},
	} {
		r := e.faultline(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
}
