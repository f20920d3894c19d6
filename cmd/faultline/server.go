package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/engine"
	"github.com/faultline-dev/faultline/ledger"
	"github.com/faultline-dev/faultline/server"
	"github.com/faultline-dev/faultline/store"
)

type serverFlags struct {
	addr     string
	db       string
	stateDir string
	tlsCert  string
	tlsKey   string
	webhooks []string
	lease    time.Duration
	pollWait time.Duration
	logLevel string
}

func newServerCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: experiments, runs on the server or on agents, schedules, halt-all",
		Long: `Run the control plane: a JSON API under /api/v1/ (described at /api/openapi.json)
that keeps experiments and their versions, runs them on this host with the same
engine as 'faultline run' or on agents chosen by labels, streams their events,
halts one run or all of them, schedules runs, and audits every change.

The first line on stdout is the URL the server listens on (useful with
--addr 127.0.0.1:0). FAULTLINE_ADMIN_TOKEN seeds an admin token on first start;
make more with POST /api/v1/tokens. SIGINT or SIGTERM halts the runs executing
on this host, recovers their faults, and stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServer(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:7400", "address to listen on")
	fl.StringVar(&f.db, "db", "", "database: sqlite:///path/to/server.db or postgres://user:pass@host/db (default sqlite under the state directory)")
	fl.StringVar(&f.stateDir, "state-dir", "", "directory for the SQLite database and the server's ledger (default ~/.local/state/faultline)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM); needs --tls-key")
	fl.StringVar(&f.tlsKey, "tls-key", "", "the certificate's private key (PEM)")
	fl.StringArrayVar(&f.webhooks, "webhook", nil, "URL notified (Slack-compatible JSON) when a run starts, deviates, aborts or is halted; repeatable")
	fl.DurationVar(&f.lease, "lease", server.DefaultLease, "how long an agent may hold faults without reaching the server")
	fl.DurationVar(&f.pollWait, "poll-wait", server.DefaultPollWait, "how long an agent's poll is held open (at most half the lease)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// runServer wires the store, the ledger and the server, serves until a
// signal, then halts the runs on this host and shuts down.
func runServer(cmd *cobra.Command, f serverFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usageError(fmt.Errorf("--log-level %q: use debug, info, warn or error", f.logLevel))
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return usageError(errors.New("--tls-cert and --tls-key go together"))
	}
	var tlsConfig *tls.Config
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return usageError(fmt.Errorf("TLS certificate: %w", err))
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	stateDir := f.stateDir
	if stateDir == "" {
		stateDir = ledger.StateDir()
	}
	dbURL := f.db
	if dbURL == "" {
		dbURL = store.DefaultURL(stateDir)
	}
	ledgerPath, _ := cmd.Flags().GetString("ledger")
	if ledgerPath == "" {
		ledgerPath = filepath.Join(stateDir, "server-ledger.jsonl")
	}
	// The token seeds the store once; experiments run on this host must not
	// read it back through ${env:FAULTLINE_ADMIN_TOKEN}.
	adminToken := os.Getenv("FAULTLINE_ADMIN_TOKEN")
	os.Unsetenv("FAULTLINE_ADMIN_TOKEN")

	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, err := store.Open(ctx, dbURL, log)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer st.Close()
	l, err := ledger.Open(ledgerPath)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	srv, err := server.New(ctx, server.Config{
		Store: st, Ledger: l, Catalog: engine.Catalog(), Logger: log, Lease: f.lease, PollWait: f.pollWait,
		AdminToken: adminToken, Webhooks: f.webhooks,
	})
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	scheme := "http"
	if tlsConfig != nil {
		ln, scheme = tls.NewListener(ln, tlsConfig), "https"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s://%s\n", scheme, ln.Addr())
	log.Info("serving", "url", fmt.Sprintf("%s://%s", scheme, ln.Addr()), "store", st.Dialect(), "ledger", ledgerPath)

	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	background := make(chan struct{})
	go func() { srv.Run(bg); close(background) }()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	select {
	case <-ctx.Done():
		log.Info("stopping: halting the runs on this host and recovering their faults")
	case err = <-served:
		log.Error("the server stopped serving", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	closeErr := srv.Close(sctx)
	_ = hs.Shutdown(sctx)
	stopBackground()
	<-background
	if err := errors.Join(closeErr, ignoreClosed(err)); err != nil {
		return &exitError{code: 1, err: err}
	}
	return nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
