package proxy_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/fault"
	"github.com/faultline-dev/faultline/fault/faulttest"
	fproxy "github.com/faultline-dev/faultline/fault/proxy"
	"github.com/faultline-dev/faultline/proxy"
)

// daemon is an in-process fault proxy with its API on loopback.
type daemon struct {
	api string
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	srv := proxy.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)))
	api := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		api.Close()
		_ = srv.Close()
	})
	return &daemon{api: api.URL}
}

var names atomic.Int64

// newProxy creates a proxy to upstream and returns its name.
func (d *daemon) newProxy(t *testing.T, upstream, protocol string) string {
	t.Helper()
	name := fmt.Sprintf("p%d", names.Add(1))
	body := fmt.Sprintf(`{"name": %q, "listen": "127.0.0.1:0", "upstream": %q, "protocol": %q}`, name, upstream, protocol)
	resp, err := http.Post(d.api+"/proxies", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create proxy: %s", resp.Status)
	}
	return name
}

// listenAddr returns where the proxy of rec's parameters listens.
func listenAddr(t *testing.T, rec *fault.Record) string {
	t.Helper()
	var p struct {
		API   string `json:"api"`
		Proxy string `json:"proxy"`
	}
	if err := json.Unmarshal(rec.Params, &p); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(p.API + "/proxies/" + p.Proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Listen string `json:"listen"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v.Listen
}

// serve runs handle for each connection to a new loopback listener.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func echo(t *testing.T) string {
	return serve(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

// source sends n bytes to each client, then closes.
func source(t *testing.T, n int) string {
	return serve(t, func(c net.Conn) { _, _ = c.Write(make([]byte, n)) })
}

func httpServer(t *testing.T) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// echoTime is how long a line takes to come back through the proxy.
func echoTime(t *testing.T, rec *fault.Record) time.Duration {
	c := dial(t, listenAddr(t, rec))
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatalf("read the echo: %v", err)
	}
	return time.Since(start)
}

// drain reads a connection through the proxy to its end: the bytes and
// the time it took.
func drain(t *testing.T, rec *fault.Record) (int64, time.Duration) {
	c := dial(t, listenAddr(t, rec))
	defer c.Close()
	start := time.Now()
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		t.Fatalf("read through the proxy: %v", err)
	}
	return n, time.Since(start)
}

func httpGet(t *testing.T, rec *fault.Record) (*http.Response, time.Duration) {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := hc.Get("http://" + listenAddr(t, rec) + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, time.Since(start)
}

// TestConformance runs the suite every kind passes, against a fault proxy
// in this process; Applied looks at real traffic through the proxy.
func TestConformance(t *testing.T) {
	d := startDaemon(t)
	cases := []struct {
		kind    string
		params  func(t *testing.T) any
		applied func(t *testing.T, rec *fault.Record) bool
	}{{
		kind: "proxy.latency",
		params: func(t *testing.T) any {
			return &fproxy.LatencyParams{At: fproxy.At{API: d.api, Proxy: d.newProxy(t, echo(t), "")}, Direction: "downstream", Toxicity: 100, Latency: ms(100)}
		},
		applied: func(t *testing.T, rec *fault.Record) bool { return echoTime(t, rec) >= 90*time.Millisecond },
	}, {
		kind: "proxy.bandwidth",
		params: func(t *testing.T) any {
			return &fproxy.BandwidthParams{At: fproxy.At{API: d.api, Proxy: d.newProxy(t, source(t, 8000), "")}, Direction: "downstream", Toxicity: 100, Rate: 16_000}
		},
		applied: func(t *testing.T, rec *fault.Record) bool {
			n, took := drain(t, rec)
			return n == 8000 && took >= 250*time.Millisecond // 8000 bytes at 16 kB/s: 500ms
		},
	}, {
		kind: "proxy.timeout",
		params: func(t *testing.T) any {
			return &fproxy.TimeoutParams{At: fproxy.At{API: d.api, Proxy: d.newProxy(t, echo(t), "")}, Direction: "both", Toxicity: 100}
		},
		applied: func(t *testing.T, rec *fault.Record) bool {
			c := dial(t, listenAddr(t, rec))
			defer c.Close()
			_, _ = io.WriteString(c, "ping\n")
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, err := c.Read(make([]byte, 8))
			return errors.Is(err, os.ErrDeadlineExceeded)
		},
	}, {
		kind: "proxy.reset",
		params: func(t *testing.T) any {
			return &fproxy.ResetParams{At: fproxy.At{API: d.api, Proxy: d.newProxy(t, echo(t), "")}, Direction: "upstream", Toxicity: 100}
		},
		applied: func(t *testing.T, rec *fault.Record) bool {
			c := dial(t, listenAddr(t, rec))
			defer c.Close()
			_, _ = io.WriteString(c, "ping\n")
			_, err := c.Read(make([]byte, 8))
			return errors.Is(err, syscall.ECONNRESET)
		},
	}, {
		kind: "proxy.slowClose",
		params: func(t *testing.T) any {
			return &fproxy.SlowCloseParams{At: fproxy.At{API: d.api, Proxy: d.newProxy(t, source(t, 10), "")}, Direction: "downstream", Toxicity: 100, Delay: ms(300)}
		},
		applied: func(t *testing.T, rec *fault.Record) bool {
			_, took := drain(t, rec)
			return took >= 250*time.Millisecond
		},
	}, {
		kind: "proxy.slicer",
		params: func(t *testing.T) any {
			return &fproxy.SlicerParams{At: fproxy.At{API: d.api, Proxy: d.newProxy(t, source(t, 1000), "")}, Direction: "downstream", Toxicity: 100,
				AverageSize: 10, SizeVariation: 2, Delay: ms(2)}
		},
		applied: func(t *testing.T, rec *fault.Record) bool {
			n, took := drain(t, rec)
			return n == 1000 && took >= 100*time.Millisecond // about 100 slices, 2ms apart
		},
	}, {
		kind: "proxy.limitData",
		params: func(t *testing.T) any {
			return &fproxy.LimitDataParams{At: fproxy.At{API: d.api, Proxy: d.newProxy(t, source(t, 10_000), "")}, Direction: "downstream", Toxicity: 100, Bytes: 100}
		},
		applied: func(t *testing.T, rec *fault.Record) bool {
			n, _ := drain(t, rec)
			return n == 100
		},
	}, {
		kind: "proxy.down",
		params: func(t *testing.T) any {
			return &fproxy.DownParams{At: fproxy.At{API: d.api, Proxy: d.newProxy(t, echo(t), "")}}
		},
		applied: func(t *testing.T, rec *fault.Record) bool {
			c, err := net.DialTimeout("tcp", listenAddr(t, rec), time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil
		},
	}, {
		kind: "proxy.httpAbort",
		params: func(t *testing.T) any {
			return &fproxy.HTTPAbortParams{At: fproxy.At{API: d.api, Proxy: d.newProxy(t, httpServer(t), "http")}, Status: 503, Percentage: 100}
		},
		applied: func(t *testing.T, rec *fault.Record) bool {
			resp, _ := httpGet(t, rec)
			return resp.StatusCode == http.StatusServiceUnavailable
		},
	}, {
		kind: "proxy.httpDelay",
		params: func(t *testing.T) any {
			return &fproxy.HTTPDelayParams{At: fproxy.At{API: d.api, Proxy: d.newProxy(t, httpServer(t), "http")}, Delay: ms(200), Percentage: 100}
		},
		applied: func(t *testing.T, rec *fault.Record) bool {
			_, took := httpGet(t, rec)
			return took >= 190*time.Millisecond
		},
	}, {
		kind: "proxy.httpHeaders",
		params: func(t *testing.T) any {
			return &fproxy.HTTPHeadersParams{At: fproxy.At{API: d.api, Proxy: d.newProxy(t, httpServer(t), "http")},
				Response: map[string]string{"X-Fault": "on"}, Percentage: 100}
		},
		applied: func(t *testing.T, rec *fault.Record) bool {
			resp, _ := httpGet(t, rec)
			return resp.Header.Get("X-Fault") == "on"
		},
	}}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			faulttest.Run(t, faulttest.Case{Kind: c.kind, Params: c.params, Applied: c.applied})
		})
	}
}

func ms(n int) experiment.Duration { return experiment.Duration(time.Duration(n) * time.Millisecond) }
