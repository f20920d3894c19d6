package webhook

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint that fails its first `fail` requests with
// status failWith and records the rest.
type receiver struct {
	mu       sync.Mutex
	fail     int
	failWith int
	got      []Event
	hits     int
	notify   chan struct{}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits++
	if r.fail > 0 {
		r.fail--
		w.WriteHeader(r.failWith)
		return
	}
	var e Event
	b, _ := io.ReadAll(req.Body)
	if req.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &e) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.got = append(r.got, e)
	r.notify <- struct{}{}
}

func start(t *testing.T, fixed []Target, dynamic func(context.Context) ([]Target, error)) *Notifier {
	n := New(slog.New(slog.DiscardHandler), nil, fixed, dynamic)
	n.backoff = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func wait(t *testing.T, r *receiver) {
	t.Helper()
	select {
	case <-r.notify:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook arrived")
	}
}

func TestDeliversSlackCompatibleJSON(t *testing.T) {
	fixed := &receiver{notify: make(chan struct{}, 10)}
	onlyHalts := &receiver{notify: make(chan struct{}, 10)}
	a, b := httptest.NewServer(fixed), httptest.NewServer(onlyHalts)
	defer a.Close()
	defer b.Close()
	n := start(t, []Target{{URL: a.URL}}, func(context.Context) ([]Target, error) {
		return []Target{{URL: b.URL, Events: []string{RunHalted}}}, nil
	})
	n.Notify(Event{Kind: RunDeviated, Text: "run r1 (pause) deviated", Run: "r1", Experiment: "pause", Status: "deviated"})
	n.Notify(Event{Kind: RunHalted, Text: "run r1 halted", Run: "r1", Actor: "alice"})
	wait(t, fixed)
	wait(t, fixed)
	wait(t, onlyHalts)
	fixed.mu.Lock()
	defer fixed.mu.Unlock()
	if len(fixed.got) != 2 || fixed.got[0].Text == "" || fixed.got[0].Kind != RunDeviated || fixed.got[0].At.IsZero() {
		t.Fatalf("fixed target got %+v", fixed.got)
	}
	onlyHalts.mu.Lock()
	defer onlyHalts.mu.Unlock()
	if len(onlyHalts.got) != 1 || onlyHalts.got[0].Kind != RunHalted || onlyHalts.got[0].Actor != "alice" {
		t.Fatalf("subscribed target got %+v", onlyHalts.got)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		failWith int
		fail     int
		wantHits int
		wantGot  int
	}{
		{"a 503 is retried", http.StatusServiceUnavailable, 2, 3, 1},
		{"a 429 is retried", http.StatusTooManyRequests, 1, 2, 1},
		{"three failures give up", http.StatusBadGateway, 5, 3, 0},
		{"a 404 is not retried", http.StatusNotFound, 1, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &receiver{fail: tt.fail, failWith: tt.failWith, notify: make(chan struct{}, 10)}
			srv := httptest.NewServer(r)
			defer srv.Close()
			n := New(slog.New(slog.DiscardHandler), nil, nil, nil)
			n.backoff = time.Millisecond
			body, _ := json.Marshal(Event{Kind: RunStarted, Text: "x"})
			_ = n.send(context.Background(), srv.URL, body)
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.hits != tt.wantHits || len(r.got) != tt.wantGot {
				t.Fatalf("%d requests, %d delivered; want %d, %d", r.hits, len(r.got), tt.wantHits, tt.wantGot)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:9/x", "https://hooks.slack.com/services/T/B/X"} {
		if err := CheckURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"", "ftp://x/y", "/relative", "http://"} {
		if err := CheckURL(u); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	if CheckKinds([]string{RunStarted, HaltAll}) != nil || CheckKinds([]string{"run.exploded"}) == nil {
		t.Error("CheckKinds")
	}
	if got := redact("https://hooks.slack.com/services/T/B/secret"); got != "https://hooks.slack.com/…" {
		t.Errorf("redact: %s", got)
	}
}
