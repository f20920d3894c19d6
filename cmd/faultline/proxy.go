package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/proxy"
)

func newProxyCmd() *cobra.Command {
	var api, config string
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run the fault proxy: TCP/HTTP proxies whose faults the Toxiproxy-compatible API adds and removes",
		Long: `Run the fault proxy daemon. Its HTTP API answers Toxiproxy's (so Toxiproxy's clients work
unchanged) and the proxy.* fault kinds use it: create proxies (name, listen, upstream;
"protocol": "http" for the HTTP faults), then add and remove toxics while connections stay open.
SIGINT or SIGTERM stops it, closing every proxy and connection.`,
		Example: `  faultline proxy
  faultline proxy --api 127.0.0.1:18474 --config proxies.json
  curl -X POST 127.0.0.1:8474/proxies -d '{"name": "db", "listen": "127.0.0.1:15432", "upstream": "127.0.0.1:5432"}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runProxy(cmd, api, config) },
	}
	cmd.Flags().StringVar(&api, "api", "127.0.0.1:8474", "address of the HTTP API (Toxiproxy's port by default)")
	cmd.Flags().StringVar(&config, "config", "", "JSON list of proxies to create at start, as POST /populate and toxiproxy-server -config take")
	return cmd
}

// apiShutdownGrace bounds how long API requests in flight may take at stop.
const apiShutdownGrace = 5 * time.Second

func runProxy(cmd *cobra.Command, api, config string) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	srv := proxy.NewServer(log)
	defer srv.Close()
	if config != "" {
		if err := populateFromFile(srv, config); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", api)
	if err != nil {
		return fmt.Errorf("proxy API: %w", err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("fault proxy API listening", "url", "http://"+ln.Addr().String())
	select {
	case err := <-served:
		return fmt.Errorf("proxy API: %w", err)
	case <-ctx.Done():
	}
	log.Info("stopping: closing the API, the proxies and their connections")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiShutdownGrace)
	defer cancel()
	return errors.Join(hs.Shutdown(sctx), srv.Close())
}

func populateFromFile(srv *proxy.Server, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return usageError(fmt.Errorf("--config: %w", err))
	}
	defer f.Close()
	cfgs, err := proxy.DecodePopulate(f)
	if err != nil {
		return usageError(fmt.Errorf("--config %s: %w", file, err))
	}
	if _, err := srv.Populate(cfgs); err != nil {
		return fmt.Errorf("--config %s: %w", file, err)
	}
	return nil
}
