package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/load"
	"github.com/faultline-dev/faultline/probe"
)

type loadFlags struct {
	scenario     string
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
		Use:   "load {URL | --scenario FILE}",
		Short: "Send HTTP load at a constant rate (or from N looping workers) and report latency percentiles",
		Long: `Send HTTP/1.1 load to URL over kept-alive connections and report the
request rate, the success ratio, status codes, errors and latency percentiles.

With --rate above 0 (the open model) requests are sent on schedule whether or
not earlier ones were answered, and a request that had to wait for a free
worker counts its latency from when it was due, so a stalled server shows in
the percentiles. With --rate 0 (the closed model) --concurrency workers each
send their next request as soon as the previous one is answered.

--scenario FILE reads the request, or several weighted ones, from a YAML or
JSON file holding the settings of the load probe (url, method, headers, body
or targets: [{name, url, method, headers, body, weight}]; rate, concurrency,
timeout, expectStatus; window is the probe's and is not used here), so a
scenario moves unchanged between this command and an experiment's load
check. Flags given explicitly override the file, keys it leaves out take
the flags' defaults, and --header adds to every target. With several
targets the summary gives each one's figures too (name, or method and URL).

A live progress line goes to stderr on a terminal; the summary goes to stdout
(JSON with --json; latencies in nanoseconds). Ctrl-C stops early and still
prints the summary.`,
		Example: `  faultline load http://127.0.0.1:8080/ --rate 200 --duration 30s
  faultline load http://127.0.0.1:8080/ --rate 0 --concurrency 32 --duration 10s --json
  faultline load http://127.0.0.1:8080/orders --method POST --header 'Content-Type: application/json' --body '{"sku": 1}'
  faultline load --scenario examples/load/shop-mix.yaml --rate 100 --duration 30s`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) > 1:
				return fmt.Errorf("accepts one URL, received %d arguments", len(args))
			case len(args) == 1 && f.scenario != "":
				return fmt.Errorf("give a URL or --scenario, not both: the scenario names its own url or targets")
			case len(args) == 0 && f.scenario == "":
				return fmt.Errorf("give a URL to load, or --scenario FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.config(cmd.Flags(), args)
			if err != nil {
				return usageError(err)
			}
			stderr := cmd.ErrOrStderr()
			cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			g, err := load.New(cfg)
			if err != nil {
				return usageError(f.renameFields(cmd.Flags(), err))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var total load.Stats
			if isTerminal(stderr) {
				total = runWithProgress(ctx, g, stderr)
			} else {
				total = g.Run(ctx)
			}
			return f.write(cmd.OutOrStdout(), cfg, total)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.scenario, "scenario", "", "YAML or JSON file with the load probe's settings: url or weighted targets, rate, concurrency, …")
	fl.Float64Var(&f.rate, "rate", 50, "requests per second (open model); 0 selects the closed model")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "how long to send load")
	fl.IntVar(&f.concurrency, "concurrency", 1, "closed model: workers each looping; open model: workers started up front")
	fl.IntVar(&f.maxInFlight, "max-in-flight", 0, "open model: cap on requests awaiting an answer (default: rate × timeout, at most 10000)")
	fl.DurationVar(&f.timeout, "timeout", load.DefaultTimeout, "bound on each request, to the last byte of the answer")
	fl.StringVar(&f.method, "method", http.MethodGet, "request method")
	fl.StringArrayVar(&f.headers, "header", nil, "request header as 'Name: value' (repeatable; with a scenario, added to every target)")
	fl.StringVar(&f.body, "body", "", "request body")
	fl.StringVar(&f.expectStatus, "expect-status", "", "statuses that count as success: 200, 2xx, 200-299 or 200,204 (default 2xx and 3xx)")
	fl.BoolVar(&f.json, "json", false, "print the summary as JSON")
	return cmd
}

// settingFlags are the flags that set a load probe setting, by setting.
var settingFlags = map[string]string{
	"method":       "method",
	"body":         "body",
	"rate":         "rate",
	"concurrency":  "concurrency",
	"timeout":      "timeout",
	"expectStatus": "expect-status",
}

// given reports whether the flag called name applies: every flag does
// without a scenario, and only those given explicitly with one.
func (f *loadFlags) given(fs *pflag.FlagSet, name string) bool {
	return f.scenario == "" || fs.Changed(name)
}

// config turns the scenario, if any, and the flags into a load
// configuration, through the load probe's settings.
func (f *loadFlags) config(fs *pflag.FlagSet, args []string) (load.Config, error) {
	p := probe.LoadParams{
		Rate:        f.rate,
		Concurrency: f.concurrency,
		Timeout:     experiment.Duration(f.timeout),
		Window:      experiment.Duration(time.Second), // for the progress line
	}
	if f.scenario != "" {
		if err := experiment.LoadSettings(f.scenario, &p); err != nil {
			if errs, ok := errors.AsType[experiment.Errors](err); ok {
				return load.Config{}, fmt.Errorf("invalid scenario:\n%w", errs)
			}
			return load.Config{}, err
		}
	} else {
		p.URL = args[0]
	}
	if f.duration <= 0 {
		return load.Config{}, fmt.Errorf("--duration must be above zero, such as 30s")
	}
	if f.given(fs, "method") {
		p.Method = f.method
	}
	if f.given(fs, "body") {
		p.Body = f.body
	}
	if fs.Changed("rate") {
		p.Rate = f.rate
	}
	if fs.Changed("concurrency") {
		p.Concurrency = f.concurrency
	}
	if fs.Changed("timeout") {
		p.Timeout = experiment.Duration(f.timeout)
	}
	if f.expectStatus != "" {
		p.ExpectStatus = f.expectStatus
		if parts := strings.Split(f.expectStatus, ","); len(parts) > 1 {
			list := make([]any, len(parts))
			for i, part := range parts {
				list[i] = strings.TrimSpace(part)
			}
			p.ExpectStatus = list
		}
	}
	if err := p.Validate(); err != nil {
		return load.Config{}, f.renameFields(fs, err)
	}
	cfg, err := p.Config()
	if err != nil {
		return cfg, f.renameFields(fs, err)
	}
	cfg.Duration, cfg.MaxInFlight, cfg.Window = f.duration, f.maxInFlight, time.Second
	seen := map[string]bool{}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return cfg, fmt.Errorf("--header %q: want 'Name: value'", h)
		}
		for _, t := range cfg.Targets {
			if !seen[name] {
				t.Headers.Del(name) // the flag overrides the scenario's header
			}
			t.Headers.Add(name, strings.TrimSpace(value))
		}
		seen[name] = true
	}
	return cfg, nil
}

// renameFields names the fields of the problems in err as the user gave
// them: after the flags that set them, or in the scenario.
func (f *loadFlags) renameFields(fs *pflag.FlagSet, err error) error {
	var out []error
	for _, e := range flatten(err) {
		var (
			fe *experiment.FieldError
			le *load.FieldError
		)
		switch {
		case errors.As(e, &fe):
			e = fmt.Errorf("%s: %s", f.fieldName(fs, fe.Field), fe.Msg)
		case errors.As(e, &le):
			e = fmt.Errorf("%s: %s", f.fieldName(fs, le.Field), le.Msg)
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// fieldName names a load probe setting (or load.Config field) after the flag
// or argument that set it, or else as a field of the scenario.
func (f *loadFlags) fieldName(fs *pflag.FlagSet, field string) string {
	if f.scenario == "" {
		field = strings.TrimPrefix(field, "targets[0].")
	}
	_, header, isHeader := strings.Cut(field, "headers.")
	switch {
	case field == "url" && f.scenario == "":
		return "URL"
	case isHeader && slices.ContainsFunc(f.headers, func(h string) bool {
		name, _, _ := strings.Cut(h, ":")
		return http.CanonicalHeaderKey(strings.TrimSpace(name)) == http.CanonicalHeaderKey(header)
	}):
		return "--header " + header
	case field == "maxInFlight":
		return "--max-in-flight"
	}
	if flag, ok := settingFlags[field]; ok && f.given(fs, flag) {
		return "--" + flag
	}
	return f.scenario + ": " + field
}

// flatten lists the errors err joins (errors.Join), however nested.
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
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
	Scenario    string  `json:"scenario,omitempty"`
	URL         string  `json:"url,omitempty"`
	Method      string  `json:"method,omitempty"`
	Model       string  `json:"model"`
	TargetRate  float64 `json:"targetRate,omitempty"`
	Concurrency int     `json:"concurrency"`
	load.Stats
}

func (f *loadFlags) write(w io.Writer, cfg load.Config, total load.Stats) error {
	s := loadSummary{Scenario: f.scenario, Model: "closed", Concurrency: cfg.Concurrency, Stats: total}
	what := fmt.Sprintf("%d targets from %s", len(cfg.Targets), f.scenario)
	if len(cfg.Targets) == 1 {
		t := cfg.Targets[0]
		s.URL, s.Method = t.URL, cmp.Or(t.Method, http.MethodGet)
		what = s.Method + " " + s.URL
	}
	if cfg.Rate > 0 {
		s.Model, s.TargetRate = "open", cfg.Rate
	}
	if f.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	model := fmt.Sprintf("closed model, %d workers", cfg.Concurrency)
	if cfg.Rate > 0 {
		model = fmt.Sprintf("open model, %g/s", cfg.Rate)
	}
	fmt.Fprintf(w, "%s — %s for %s\n", what, model, f.duration)
	return total.WriteText(w)
}
