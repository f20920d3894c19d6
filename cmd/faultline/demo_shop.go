package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/examples/shop"
	"github.com/faultline-dev/faultline/internal/procfs"
	"github.com/faultline-dev/faultline/ledger"
)

// shopUpTimeout bounds the wait for every service of the shop to answer
// /healthz after `demo shop up`.
const shopUpTimeout = 20 * time.Second

func newDemoShopCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "shop",
		Short: "Start, inspect and stop the demo shop (six services on loopback; see examples/shop)",
	}
	var o shop.Options
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the shop in the background (config, pids, logs and stores under the state directory)",
		Long: `Start the shop's six services, each its own process on 127.0.0.1, and wait until
every one answers /healthz. Services already running are left alone, so up
after a killed service restarts just that one.

Resilience starts from a profile (--resilience off|on), then a YAML or JSON
file (--config) and --set adjust it edge by edge:
  faultline demo shop up --resilience on --set orders.payment.timeout=1s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			changed := false
			for _, f := range []string{"resilience", "config", "set", "ports", "data"} {
				changed = changed || cmd.Flags().Changed(f)
			}
			return shopUp(cmd, o, changed)
		},
	}
	up.Flags().StringVar(&o.Profile, "resilience", "", "resilience profile: off or on (default: the config file's, else off)")
	up.Flags().StringVar(&o.File, "config", "", "YAML or JSON file adjusting resilience, ports and data directory (see examples/shop/README.md)")
	up.Flags().StringArrayVar(&o.Set, "set", nil, "adjust one edge's field, e.g. orders.payment.timeout=1s (repeatable)")
	up.Flags().StringSliceVar(&o.Ports, "ports", nil, "ports of services, e.g. frontend=8180,payment=8184 (default 8180-8185)")
	up.Flags().StringVar(&o.DataDir, "data", "", "directory of the services' SQLite stores (default STATE/shop/data)")
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the shop started by demo shop up (its stores are kept)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return shopDown(cmd) },
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List the shop's services with pid, address and health (exit 1 unless all are healthy)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return shopStatus(cmd) },
	}
	var addr, config string
	serve := &cobra.Command{
		Use:    "serve SERVICE",
		Short:  "Run one service of the shop in the foreground",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return shopServe(cmd, args[0], addr, config)
		},
	}
	serve.Flags().StringVar(&addr, "addr", "", "listen address on loopback (default: the service's port in the config)")
	serve.Flags().StringVar(&config, "config", "", "the shop's config file (default: resilience off, default ports)")
	cmd.AddCommand(up, down, status, serve)
	return cmd
}

func shopDir() string { return filepath.Join(ledger.StateDir(), "shop") }

func shopConfigPath() string { return filepath.Join(shopDir(), "shop.json") }

// loadShopConfig loads a config with the data directory defaulted and
// made absolute (the services may not share the caller's directory).
func loadShopConfig(o shop.Options) (shop.Config, error) {
	c, err := shop.Load(o)
	if err != nil {
		return c, usageError(err)
	}
	if c.DataDir == "" {
		c.DataDir = filepath.Join(shopDir(), "data")
	}
	if c.DataDir, err = filepath.Abs(c.DataDir); err != nil {
		return c, fmt.Errorf("shop data directory: %w", err)
	}
	return c, nil
}

// shopProcess is one service's process as its pidfile records it.
type shopProcess struct {
	pid   int
	alive bool
}

// shopProcesses reads the pidfile of every service.
func shopProcesses() map[string]shopProcess {
	procs := map[string]shopProcess{}
	for _, s := range shop.Services {
		pid, start, ok, err := readPidfile(filepath.Join(shopDir(), s+".pid"))
		if err == nil && ok {
			procs[s] = shopProcess{pid: pid, alive: procfs.Alive(pid, start)}
		}
	}
	return procs
}

func shopUp(cmd *cobra.Command, o shop.Options, flagsGiven bool) error {
	dir := shopDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("shop up: %w", err)
	}
	procs := shopProcesses()
	var running []string
	for _, s := range shop.Services {
		if procs[s].alive {
			running = append(running, s)
		}
	}
	var cfg shop.Config
	var err error
	if len(running) > 0 {
		// Restart what is missing with the configuration the rest runs.
		if cfg, err = loadShopConfig(shop.Options{File: shopConfigPath()}); err != nil {
			return fmt.Errorf("shop up: %s is running but its configuration is unreadable; run `faultline demo shop down` first: %w", strings.Join(running, ", "), err)
		}
		if flagsGiven {
			want, err := loadShopConfig(o)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(want, cfg) {
				return usageError(fmt.Errorf("the shop runs with another configuration (resilience %s); run `faultline demo shop down` first to change it", cfg.Resilience))
			}
		}
	} else {
		if cfg, err = loadShopConfig(o); err != nil {
			return err
		}
		b, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return fmt.Errorf("shop up: %w", err)
		}
		if err := os.WriteFile(shopConfigPath(), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("shop up: %w", err)
		}
	}
	var missing []string
	for _, s := range shop.Services {
		if procs[s].alive {
			continue
		}
		if err := portFree(cfg.Addr(s)); err != nil {
			return usageError(fmt.Errorf("shop up: %s's address %s is taken (%v): free it, or choose another port with --ports %s=PORT", s, cfg.Addr(s), err, s))
		}
		missing = append(missing, s)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("shop up: %w", err)
	}
	// failed stops what this call started (all of it on a fresh start).
	failed := func(err error) error {
		for _, s := range missing {
			stopPidfile(filepath.Join(dir, s+".pid"))
		}
		return fmt.Errorf("shop up: %w", err)
	}
	for _, s := range missing {
		args := []string{"demo", "shop", "serve", s, "--addr", cfg.Addr(s), "--config", shopConfigPath()}
		if err := startDetached(self, dir, s, args); err != nil {
			return failed(err)
		}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), shopUpTimeout)
	defer cancel()
	for _, s := range shop.Services {
		if err := waitHealthy(ctx, cfg.URL(s)+"/healthz"); err != nil {
			log := filepath.Join(dir, s+".log")
			return failed(fmt.Errorf("%s on %s is not healthy (%w); its log %s ends:\n%s", s, cfg.Addr(s), err, log, tail(log, 10)))
		}
	}
	out := cmd.OutOrStdout()
	switch {
	case len(missing) == 0:
		fmt.Fprint(out, "the shop is already running")
	case len(running) > 0:
		fmt.Fprintf(out, "restarted %s; the shop runs", strings.Join(missing, ", "))
	default:
		fmt.Fprint(out, "the shop is up")
	}
	fmt.Fprintf(out, " on %s/ (resilience %s)\n", cfg.URL("frontend"), cfg.Resilience)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, s := range shop.Services {
		fmt.Fprintf(tw, "  %s\t%s/\n", s, cfg.URL(s))
	}
	tw.Flush()
	fmt.Fprintf(out, "stores in %s, logs and pids in %s\n", cfg.DataDir, dir)
	return nil
}

// portFree reports why addr cannot be listened on, if it cannot.
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// waitHealthy polls url until it answers 200 or ctx ends.
func waitHealthy(ctx context.Context, url string) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	for {
		err := checkHealth(ctx, c, url)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func checkHealth(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// tail is the last n lines of a file, indented, for an error message.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	return "    " + strings.Join(lines, "\n    ")
}

// shopDown stops the services by pid and start time, frontend first.
func shopDown(cmd *cobra.Command) error {
	var errs []error
	stopped := 0
	for i := len(shop.Services) - 1; i >= 0; i-- {
		f := filepath.Join(shopDir(), shop.Services[i]+".pid")
		if _, err := os.Stat(f); err != nil {
			continue
		}
		if err := stopPidfile(f); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", shop.Services[i], err))
			continue
		}
		stopped++
	}
	if stopped == 0 && len(errs) == 0 {
		fmt.Fprintln(cmd.OutOrStdout(), "the shop is not running")
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "shop stopped (%d processes); its stores are kept in the data directory\n", stopped)
	return errors.Join(errs...)
}

func shopStatus(cmd *cobra.Command) error {
	cfg, err := loadShopConfig(shop.Options{File: shopConfigPath()})
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &exitError{code: 1, err: errors.New("the shop has not been started: run `faultline demo shop up`")}
		}
		return err
	}
	procs := shopProcesses()
	health := make([]string, len(shop.Services))
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	var wg sync.WaitGroup
	for i, s := range shop.Services {
		wg.Go(func() { health[i] = describeHealth(cmd.Context(), c, procs[s], cfg.URL(s)+"/healthz") })
	}
	wg.Wait()
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SERVICE\tPID\tURL\tHEALTH\n")
	unhealthy, alive := 0, 0
	for i, s := range shop.Services {
		pid := "-"
		if p := procs[s]; p.alive {
			pid = fmt.Sprint(p.pid)
			alive++
		}
		if health[i] != "ok" {
			unhealthy++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/\t%s\n", s, pid, cfg.URL(s), health[i])
	}
	tw.Flush()
	fmt.Fprintf(cmd.OutOrStdout(), "resilience %s, stores in %s\n", cfg.Resilience, cfg.DataDir)
	switch {
	case alive == 0:
		return &exitError{code: 1, err: errors.New("the shop is not running: start it with `faultline demo shop up`")}
	case unhealthy > 0:
		return &exitError{code: 1, err: fmt.Errorf("%d of %d services are not healthy", unhealthy, len(shop.Services))}
	}
	return nil
}

// describeHealth is one service's health in a word or a few.
func describeHealth(ctx context.Context, c *http.Client, p shopProcess, url string) string {
	if !p.alive {
		return "not running"
	}
	err := checkHealth(ctx, c, url)
	if err == nil {
		return "ok"
	}
	if st, serr := procfs.ReadStat(p.pid); serr == nil && (st.State == 'T' || st.State == 't') {
		return "paused (stopped by a signal)"
	}
	return "unhealthy: " + err.Error()
}

func shopServe(cmd *cobra.Command, service, addr, config string) error {
	cfg, err := loadShopConfig(shop.Options{File: config})
	if err != nil {
		return err
	}
	if addr == "" {
		addr = cfg.Addr(service)
	}
	if err := loopbackOnly(addr); err != nil {
		return usageError(err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("shop %s: %w", service, err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("service", service)
	return shop.Run(ctx, service, l, cfg, log)
}

// loopbackOnly refuses an address off the loopback interface: the shop is
// built to be broken, so it never listens where others can reach it.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--addr %s: the shop listens on loopback only (127.0.0.1 or ::1)", addr)
	}
	return nil
}
