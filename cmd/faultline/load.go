package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/expect"
	"github.com/faultline-dev/faultline/load"
)

type loadFlags struct {
	rate         float64
	duration     time.Duration
	concurrency  int
	maxInFlight  int
	timeout      time.Duration
	method       string
	headers      []string
	body         string
	expectStatus string
	json         bool
}

func newLoadCmd() *cobra.Command {
	var f loadFlags
	cmd := &cobra.Command{
		Use:   "load URL",
		Short: "Send HTTP load at a constant rate (or from N looping workers) and report latency percentiles",
		Long: `Send HTTP/1.1 load to URL over kept-alive connections and report the
request rate, the success ratio, status codes, errors and latency percentiles.

With --rate above 0 (the open model) requests are sent on schedule whether or
not earlier ones were answered, and a request that had to wait for a free
worker counts its latency from when it was due, so a stalled server shows in
the percentiles. With --rate 0 (the closed model) --concurrency workers each
send their next request as soon as the previous one is answered.

A live progress line goes to stderr on a terminal; the summary goes to stdout
(JSON with --json; latencies in nanoseconds). Ctrl-C stops early and still
prints the summary.`,
		Example: `  faultline load http://127.0.0.1:8080/ --rate 200 --duration 30s
  faultline load http://127.0.0.1:8080/ --rate 0 --concurrency 32 --duration 10s --json
  faultline load http://127.0.0.1:8080/orders --method POST --header 'Content-Type: application/json' --body '{"sku": 1}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.config(args[0])
			if err != nil {
				return usageError(err)
			}
			stderr := cmd.ErrOrStderr()
			cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			g, err := load.New(cfg)
			if err != nil {
				return usageError(flagErrors(err))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var total load.Stats
			if isTerminal(stderr) {
				total = runWithProgress(ctx, g, stderr)
			} else {
				total = g.Run(ctx)
			}
			return f.write(cmd.OutOrStdout(), args[0], cfg, total)
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&f.rate, "rate", 50, "requests per second (open model); 0 selects the closed model")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "how long to send load")
	fl.IntVar(&f.concurrency, "concurrency", 1, "closed model: workers each looping; open model: workers started up front")
	fl.IntVar(&f.maxInFlight, "max-in-flight", 0, "open model: cap on requests awaiting an answer (default: rate × timeout, at most 10000)")
	fl.DurationVar(&f.timeout, "timeout", load.DefaultTimeout, "bound on each request, to the last byte of the answer")
	fl.StringVar(&f.method, "method", http.MethodGet, "request method")
	fl.StringArrayVar(&f.headers, "header", nil, "request header as 'Name: value' (repeatable)")
	fl.StringVar(&f.body, "body", "", "request body")
	fl.StringVar(&f.expectStatus, "expect-status", "", "statuses that count as success: 200, 2xx, 200-299 or 200,204 (default 2xx and 3xx)")
	fl.BoolVar(&f.json, "json", false, "print the summary as JSON")
	return cmd
}

// config turns the flags into a load configuration.
func (f *loadFlags) config(url string) (load.Config, error) {
	cfg := load.Config{
		Targets:     []load.Target{{URL: url, Method: f.method, Body: f.body, Headers: http.Header{}}},
		Rate:        f.rate,
		Concurrency: f.concurrency,
		MaxInFlight: f.maxInFlight,
		Duration:    f.duration,
		Timeout:     f.timeout,
		Window:      time.Second, // for the progress line
	}
	if f.duration <= 0 {
		return cfg, fmt.Errorf("--duration must be above zero, such as 30s")
	}
	if f.concurrency < 1 {
		return cfg, fmt.Errorf("--concurrency must be at least 1")
	}
	if f.timeout <= 0 {
		return cfg, fmt.Errorf("--timeout must be above zero, such as 5s")
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return cfg, fmt.Errorf("--header %q: want 'Name: value'", h)
		}
		cfg.Targets[0].Headers.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if f.expectStatus != "" {
		var src any = f.expectStatus
		if parts := strings.Split(f.expectStatus, ","); len(parts) > 1 {
			list := make([]any, len(parts))
			for i, p := range parts {
				list[i] = strings.TrimSpace(p)
			}
			src = list
		}
		m, err := expect.Compile(expect.Number, src)
		if err != nil {
			return cfg, fmt.Errorf("--expect-status: %w", err)
		}
		cfg.Success = func(status int) bool { return m.Match(float64(status)) }
	}
	return cfg, nil
}

// flagErrors renames the fields load.New names after the flags that set
// them.
func flagErrors(err error) error {
	return load.MapFieldErrors(err, func(field, msg string) error {
		name := strings.TrimPrefix(field, "targets[0].")
		switch {
		case name == "url":
			name = "URL"
		case strings.HasPrefix(name, "headers."):
			name = "--header " + strings.TrimPrefix(name, "headers.")
		case name == "maxInFlight":
			name = "--max-in-flight"
		default:
			name = "--" + name
		}
		return fmt.Errorf("%s: %s", name, msg)
	})
}

// runWithProgress runs g, rewriting a progress line on the terminal w every
// second, and clears it at the end.
func runWithProgress(ctx context.Context, g *load.Generator, w io.Writer) load.Stats {
	done := make(chan load.Stats, 1)
	go func() { done <- g.Run(ctx) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case total := <-done:
			fmt.Fprint(w, "\r\x1b[K")
			return total
		case <-tick.C:
			total, recent := g.Total(), g.Recent()
			fmt.Fprintf(w, "\r\x1b[K%6.1fs  %d requests, %.2f%% ok  last second: %.0f/s, p99 %s  in flight %d",
				total.Duration.Seconds(), total.Requests, 100*total.SuccessRatio, recent.Rate, recent.Latency.P99.Round(time.Microsecond), recent.InFlight)
		}
	}
}

// loadSummary is the JSON summary: what was asked, then the figures.
type loadSummary struct {
	URL         string  `json:"url"`
	Method      string  `json:"method"`
	Model       string  `json:"model"`
	TargetRate  float64 `json:"targetRate,omitempty"`
	Concurrency int     `json:"concurrency"`
	load.Stats
}

func (f *loadFlags) write(w io.Writer, url string, cfg load.Config, total load.Stats) error {
	s := loadSummary{URL: url, Method: f.method, Model: "closed", Concurrency: cfg.Concurrency, Stats: total}
	if cfg.Rate > 0 {
		s.Model, s.TargetRate = "open", cfg.Rate
	}
	if f.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	what := fmt.Sprintf("closed model, %d workers", cfg.Concurrency)
	if cfg.Rate > 0 {
		what = fmt.Sprintf("open model, %g/s", cfg.Rate)
	}
	fmt.Fprintf(w, "%s %s — %s for %s\n", f.method, url, what, f.duration)
	return total.WriteText(w)
}
