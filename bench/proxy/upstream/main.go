// Command upstream is the tiny HTTP server the fault proxy benchmarks put
// behind the proxies: every request gets a short body, with keep-alive, as
// fast as net/http allows.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/faultline-dev/faultline/bench/internal/loopback"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "address to listen on (loopback only)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr); err != nil {
		log.Error("upstream", "err", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	ln, err := loopback.Listen(addr)
	if err != nil {
		return err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello from the upstream\n")
	})
	if err := http.Serve(ln, h); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
