package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/faultline-dev/faultline/proxy"
)

// env is a proxy server with its API, for one test.
type env struct {
	srv    *proxy.Server
	api    *httptest.Server
	client *toxiproxy.Client
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := proxy.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)))
	api := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		api.Close()
		_ = srv.Close()
	})
	return &env{srv: srv, api: api, client: toxiproxy.NewClient(api.URL)}
}

var proxyNames atomic.Int64

// proxyTo creates an enabled proxy to upstream on a free loopback port.
func (e *env) proxyTo(t testing.TB, upstream string) *toxiproxy.Proxy {
	t.Helper()
	p, err := e.client.CreateProxy(fmt.Sprintf("p%d", proxyNames.Add(1)), "127.0.0.1:0", upstream)
	if err != nil {
		t.Fatalf("create proxy: %v", err)
	}
	return p
}

// httpProxyTo creates an enabled proxy in http protocol, through the API
// (the Toxiproxy client has no field for the protocol).
func (e *env) httpProxyTo(t testing.TB, upstream string) *toxiproxy.Proxy {
	t.Helper()
	name := fmt.Sprintf("h%d", proxyNames.Add(1))
	body := fmt.Sprintf(`{"name": %q, "listen": "127.0.0.1:0", "upstream": %q, "protocol": "http"}`, name, upstream)
	resp, err := http.Post(e.api.URL+"/proxies", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create http proxy: status %d", resp.StatusCode)
	}
	p, err := e.client.Proxy(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func addToxic(t testing.TB, p *toxiproxy.Proxy, name, typ, stream string, toxicity float32, attrs toxiproxy.Attributes) {
	t.Helper()
	if _, err := p.AddToxic(name, typ, stream, toxicity, attrs); err != nil {
		t.Fatalf("add %s toxic: %v", typ, err)
	}
}

func removeToxic(t testing.TB, p *toxiproxy.Proxy, name string) {
	t.Helper()
	if err := p.RemoveToxic(name); err != nil {
		t.Fatalf("remove toxic %s: %v", name, err)
	}
}

// listen listens on a free loopback port and closes the listener with the
// test.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serveConns runs handle for every connection to ln, in its own goroutine.
func serveConns(ln net.Listener, handle func(net.Conn)) {
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
}

// echoServer echoes every byte back, closing its side once the client
// closed its own.
func echoServer(t testing.TB) string {
	ln := listen(t)
	serveConns(ln, func(c net.Conn) {
		_, _ = io.Copy(c, c)
	})
	return ln.Addr().String()
}

// sourceServer sends n bytes to every client, then closes.
func sourceServer(t testing.TB, n int64) string {
	ln := listen(t)
	serveConns(ln, func(c net.Conn) {
		_, _ = io.CopyN(c, zeros{}, n)
	})
	return ln.Addr().String()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes a line to c, reads it back from the echo server and
// returns how long it took.
func roundTrip(t testing.TB, c net.Conn, br *bufio.Reader) time.Duration {
	t.Helper()
	msg := rand.Text() + "\n"
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read the echo: %v", err)
	}
	if got != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
	return time.Since(start)
}

// readAll reads c to its end and returns the bytes and how long it took.
// An error other than the end of the stream fails the test.
func readAll(t testing.TB, c net.Conn, limit time.Duration) (int64, time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	start := time.Now()
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		t.Fatalf("read after %d bytes: %v", n, err)
	}
	return n, time.Since(start)
}

// isReset reports whether err is a TCP reset from the peer.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// httpUpstream is an HTTP server on loopback counting its connections; it
// answers with the request's method, path and X-Test header, sets
// X-Upstream: yes, and keeps connections alive.
func httpUpstream(t testing.TB) (addr string, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Upstream", "yes")
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, r.Header.Get("X-Test"))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String(), conns
}

// httpClient is a keep-alive client with one connection, so a test can
// check connections are kept alive.
func httpClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true},
	}
}

func get(t testing.TB, c *http.Client, url string, header http.Header) (*http.Response, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, string(b), time.Since(start)
}
