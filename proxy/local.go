package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Local is a fault proxy server inside the process that runs an
// experiment (the experiment's spec.proxies). Its API listens on a loopback
// port of its own, so the proxy.* faults reach it exactly as they reach
// `faultline proxy`, and an operator can look at it during the run. Its
// proxies, and every toxic in them, end with the process.
type Local struct {
	// Run is the run the proxies belong to.
	Run string
	// URL is the API's address, http://127.0.0.1:port.
	URL string

	srv    *Server
	hs     *http.Server
	served chan error
}

// StartLocal starts a server without proxies and its API on an ephemeral
// loopback port.
func StartLocal(run string, log *slog.Logger) (*Local, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy API: %w", err)
	}
	l := &Local{
		Run: run, URL: "http://" + ln.Addr().String(),
		srv:    NewServer(log),
		served: make(chan error, 1),
	}
	l.hs = &http.Server{
		Handler:           l.srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() { l.served <- l.hs.Serve(ln) }()
	return l, nil
}

// Add creates and starts a proxy.
func (l *Local) Add(c Config) error {
	c.Enabled = true
	if _, err := l.srv.create(c); err != nil {
		return fmt.Errorf("proxy %s on %s: %w", c.Name, c.Listen, err)
	}
	return nil
}

// localShutdownGrace bounds how long API calls in flight may take at Close.
const localShutdownGrace = 5 * time.Second

// Close stops the API, then every proxy and its connections.
func (l *Local) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), localShutdownGrace)
	defer cancel()
	err := l.hs.Shutdown(ctx)
	if serr := <-l.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, l.srv.Close())
}

type localKey struct{}

// WithLocal returns a context carrying l, for the proxy.* faults of its run.
func WithLocal(ctx context.Context, l *Local) context.Context {
	return context.WithValue(ctx, localKey{}, l)
}

// LocalFrom returns the Local ctx carries, or nil.
func LocalFrom(ctx context.Context) *Local {
	l, _ := ctx.Value(localKey{}).(*Local)
	return l
}
