// Package shop is the demo shop faultline's GameDay experiments break: a
// small microservice system in the spirit of Sock Shop and Bookinfo.
//
//	frontend ──► catalogue
//	   │ ├─────► carts
//	   │ └─────► orders ──► payment
//	   │                └─► shipping
//
// Each service is its own process on loopback with its own SQLite store,
// Prometheus metrics at /metrics and /healthz; every call edge has its own
// resilience policy (package resilience). This package names the
// services, holds the configuration they share and runs one of them.
package shop

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faultline-dev/faultline/examples/shop/api"
	"github.com/faultline-dev/faultline/examples/shop/carts"
	"github.com/faultline-dev/faultline/examples/shop/catalogue"
	"github.com/faultline-dev/faultline/examples/shop/frontend"
	"github.com/faultline-dev/faultline/examples/shop/metrics"
	"github.com/faultline-dev/faultline/examples/shop/orders"
	"github.com/faultline-dev/faultline/examples/shop/payment"
	"github.com/faultline-dev/faultline/examples/shop/resilience"
	"github.com/faultline-dev/faultline/examples/shop/shipping"
	"github.com/faultline-dev/faultline/examples/shop/store"
)

// ResumeEvery is how often orders retries its pending orders.
const ResumeEvery = time.Second

// Run serves service on l until ctx ends: its API, GET /healthz (200 when
// its store answers) and GET /metrics (every metric labelled with
// service).
func Run(ctx context.Context, service string, l net.Listener, cfg Config, log *slog.Logger) error {
	if !slices.Contains(Services, service) {
		return fmt.Errorf("no service %q: want one of %v", service, Services)
	}
	migrations := map[string][]string{
		"catalogue": catalogue.Migrations, "carts": carts.Migrations, "payment": payment.Migrations,
		"shipping": shipping.Migrations, "orders": orders.Migrations, "frontend": frontend.Migrations,
	}[service]
	db, err := store.Open(ctx, filepath.Join(cfg.DataDir, service+".db"), migrations)
	if err != nil {
		return fmt.Errorf("%s: %w", service, err)
	}
	defer db.Close()

	reg := prometheus.NewRegistry()
	labelled := prometheus.WrapRegistererWith(prometheus.Labels{"service": service}, reg)
	labelled.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	calls := resilience.NewMetrics(labelled)
	client := func(dependency string, e resilience.Edge) *resilience.Client {
		return resilience.NewClient(dependency, cfg.URL(dependency), e, calls, log)
	}

	var routes map[string]http.HandlerFunc
	switch service {
	case "catalogue":
		routes = catalogue.New(db, log).Routes()
	case "carts":
		routes = carts.New(db, log).Routes()
	case "payment":
		routes = payment.New(db, log).Routes()
	case "shipping":
		routes = shipping.New(db, log).Routes()
	case "orders":
		o := orders.New(db, client("payment", cfg.Calls.Orders.Payment), client("shipping", cfg.Calls.Orders.Shipping), labelled, log)
		go o.Work(ctx, ResumeEvery)
		routes = o.Routes()
	case "frontend":
		f, err := frontend.New(ctx, db, frontend.Clients{
			Catalogue: client("catalogue", cfg.Calls.Frontend.Catalogue),
			Carts:     client("carts", cfg.Calls.Frontend.Carts),
			Orders:    client("orders", cfg.Calls.Frontend.Orders),
		}, log)
		if err != nil {
			return fmt.Errorf("%s: %w", service, err)
		}
		routes = f.Routes()
	}
	mux := metrics.NewMux(labelled)
	for pattern, h := range routes {
		mux.Handle(pattern, h)
	}
	mux.Handle("GET /healthz", health(service, db))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, http.StatusNotFound, fmt.Errorf("%s has no %s %s", service, r.Method, r.URL.Path))
	}))
	log.Info("serving", "addr", l.Addr().String(), "resilience", cfg.Resilience, "store", cfg.DataDir)
	return serve(ctx, l, mux)
}

func health(service string, db *sql.DB) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := store.Ping(ctx, db); err != nil {
			api.Write(w, http.StatusServiceUnavailable, map[string]string{"service": service, "status": "unhealthy", "error": err.Error()})
			return
		}
		api.Write(w, http.StatusOK, map[string]string{"service": service, "status": "ok"})
	}
}

func serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		<-done // let the requests in flight finish
		return nil
	}
	return fmt.Errorf("serve %s: %w", l.Addr(), err)
}
