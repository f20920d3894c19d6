// Command server is the tiny HTTP server the load generator benchmarks run
// against: GET / answers a short body as fast as net/http allows, and
// POST /stall?for=500ms makes every request that arrives in the next 500ms
// wait until then, so a stall can be injected at a known moment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/bench/internal/loopback"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (loopback only)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, log); err != nil {
		log.Error("server", "err", err)
		os.Exit(1)
	}
}

func run(addr string, log *slog.Logger) error {
	ln, err := loopback.Listen(addr)
	if err != nil {
		return err
	}
	// The address on stdout is how the benchmark script finds the port.
	fmt.Println(ln.Addr().String())

	var stallUntil atomic.Int64 // unix nanoseconds
	mux := http.NewServeMux()
	body := []byte("ok\n")
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) {
		if d := time.Until(time.Unix(0, stallUntil.Load())); d > 0 {
			time.Sleep(d)
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("POST /stall", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("for"))
		if err != nil || d <= 0 || d > time.Minute {
			http.Error(w, "want ?for=DURATION, up to 1m, such as 500ms", http.StatusBadRequest)
			return
		}
		stallUntil.Store(time.Now().Add(d).UnixNano())
		log.Info("stalling", "for", d)
	})

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
