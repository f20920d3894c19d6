// Package webhook notifies URLs of what happens to runs — started,
// deviated, aborted, halted — with Slack-compatible JSON: a "text" line
// for people (a Slack incoming webhook shows it) and structured fields for
// machines. Delivery is asynchronous, in order, bounded and retried a few
// times; a notification never holds up a run.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// The kinds of event.
const (
	RunStarted  = "run.started"
	RunDeviated = "run.deviated"
	RunAborted  = "run.aborted"
	RunHalted   = "run.halted"
	HaltAll     = "halt.all"
)

// Kinds lists every event kind, for validating subscriptions.
var Kinds = []string{RunStarted, RunDeviated, RunAborted, RunHalted, HaltAll}

// Event is one notification. Its JSON is what receivers get.
type Event struct {
	// Text is the human line (Slack shows it).
	Text       string    `json:"text"`
	Kind       string    `json:"event"`
	Run        string    `json:"run,omitempty"`
	Experiment string    `json:"experiment,omitempty"`
	Status     string    `json:"status,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	At         time.Time `json:"at"`
}

// Target is a URL and the kinds it wants (none: all).
type Target struct {
	URL    string
	Events []string
}

func (t Target) wants(kind string) bool { return len(t.Events) == 0 || slices.Contains(t.Events, kind) }

// CheckURL accepts absolute http and https URLs.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook URL %q is not an absolute http:// or https:// URL", raw)
	}
	return nil
}

// CheckKinds accepts known event kinds.
func CheckKinds(kinds []string) error {
	for _, k := range kinds {
		if !slices.Contains(Kinds, k) {
			return fmt.Errorf("unknown webhook event %q: use %v", k, Kinds)
		}
	}
	return nil
}

// Delivery limits.
const (
	queueSize = 256
	attempts  = 3
	timeout   = 5 * time.Second
)

// Notifier sends events to the fixed targets and those Targets returns
// at the time of sending.
type Notifier struct {
	log     *slog.Logger
	client  *http.Client
	fixed   []Target
	targets func(ctx context.Context) ([]Target, error)
	queue   chan Event
	backoff time.Duration
}

// New makes a notifier. targets may be nil.
func New(log *slog.Logger, client *http.Client, fixed []Target, targets func(ctx context.Context) ([]Target, error)) *Notifier {
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	return &Notifier{log: log, client: client, fixed: fixed, targets: targets, queue: make(chan Event, queueSize), backoff: time.Second}
}

// Notify queues e for delivery; when the queue is full it is dropped and
// logged, so callers never wait.
func (n *Notifier) Notify(e Event) {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	select {
	case n.queue <- e:
	default:
		n.log.Warn("webhook queue full: notification dropped", "event", e.Kind, "run", e.Run)
	}
}

// Run delivers queued events, in order, until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-n.queue:
			n.deliver(ctx, e)
		}
	}
}

func (n *Notifier) deliver(ctx context.Context, e Event) {
	targets := n.fixed
	if n.targets != nil {
		more, err := n.targets(ctx)
		if err != nil {
			n.log.Error("cannot list webhooks", "err", err)
		}
		targets = append(slices.Clone(targets), more...)
	}
	body, err := json.Marshal(e)
	if err != nil {
		n.log.Error("cannot encode webhook event", "err", err)
		return
	}
	for _, t := range targets {
		if !t.wants(e.Kind) {
			continue
		}
		if err := n.send(ctx, t.URL, body); err != nil {
			n.log.Warn("webhook not delivered", "url", redact(t.URL), "event", e.Kind, "run", e.Run, "err", err)
		}
	}
}

// errPermanent is an answer that retrying will not change.
var errPermanent = errors.New("refused")

// send posts body, retrying failures and 5xx or 429 answers with backoff.
func (n *Notifier) send(ctx context.Context, u string, body []byte) error {
	var err error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(n.backoff << (i - 1)):
			}
		}
		if err = n.post(ctx, u, body); err == nil || errors.Is(err, errPermanent) {
			return err
		}
	}
	return err
}

func (n *Notifier) post(ctx context.Context, u string, body []byte) error {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "faultline-server")
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("answered %s", resp.Status)
	}
	return fmt.Errorf("%w: answered %s", errPermanent, resp.Status)
}

// redact keeps a webhook URL's secret path (Slack's carries the secret)
// out of logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
