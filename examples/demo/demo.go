// Package demo is the storefront faultline's quickstart breaks: a frontend
// on one port that answers from one of several backends, with a per-call
// timeout and a retry on the next backend. Pausing one backend therefore
// costs a request one timeout, which the storefront's latency budget
// absorbs; pausing all of them breaks it.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// FrontendOptions configure the storefront.
type FrontendOptions struct {
	Backends []string // host:port of each backend
	// Timeout bounds each backend call (default 100ms).
	Timeout time.Duration
	// Retry tries the next backend when one fails (default on).
	Retry bool
}

// Frontend serves the storefront on l until ctx ends.
func Frontend(ctx context.Context, l net.Listener, o FrontendOptions) error {
	if o.Timeout == 0 {
		o.Timeout = 100 * time.Millisecond
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}}
	var next atomic.Uint64
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		start := int(next.Add(1))
		tries := 1
		if o.Retry {
			tries = len(o.Backends)
		}
		var errs []error
		for i := 0; i < tries; i++ {
			b := o.Backends[(start+i)%len(o.Backends)]
			body, err := call(r.Context(), client, b, o.Timeout)
			if err == nil {
				fmt.Fprintf(w, "storefront: %s", body)
				return
			}
			errs = append(errs, err)
		}
		http.Error(w, "storefront: no backend answered: "+errors.Join(errs...).Error(), http.StatusBadGateway)
	})
	return serve(ctx, l, mux)
}

func call(ctx context.Context, c *http.Client, backend string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+backend+"/", nil)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", backend, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", backend, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", backend, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("backend %s: status %d", backend, resp.StatusCode)
	}
	return body, nil
}

// Backend serves one backend on l until ctx ends.
func Backend(ctx context.Context, l net.Listener, name string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", name)
	})
	return serve(ctx, l, mux)
}

func serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", l.Addr(), err)
	}
	return nil
}
