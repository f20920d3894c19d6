package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

func TestHTTPWithoutToxicsKeepsConnectionsAlive(t *testing.T) {
	e := newEnv(t)
	up, conns := httpUpstream(t)
	p := e.httpProxyTo(t, up)
	hc := httpClient()
	for i := range 20 {
		resp, body, _ := get(t, hc, fmt.Sprintf("http://%s/path/%d", p.Listen, i), http.Header{"X-Test": {"v"}})
		if resp.StatusCode != 200 || body != fmt.Sprintf("GET /path/%d v", i) {
			t.Fatalf("status %d, body %q", resp.StatusCode, body)
		}
	}
	// A POST with a body, chunked.
	resp, err := hc.Post("http://"+p.Listen+"/post", "text/plain", io.MultiReader(strings.NewReader("a"), strings.NewReader("b")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST /post " {
		t.Fatalf("POST answered %q", b)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("the upstream saw %d connections for 21 requests on one client connection", n)
	}
}

func TestHTTPAbort(t *testing.T) {
	e := newEnv(t)
	up, _ := httpUpstream(t)
	p := e.httpProxyTo(t, up)
	addToxic(t, p, "abort", "http_abort", "", 1, toxiproxy.Attributes{
		"status": 503, "body": "nope", "path_prefix": "/api/", "method": "GET", "headers": map[string]string{"X-Test": "hit"},
	})
	hc := httpClient()
	for _, tc := range []struct {
		path, xtest string
		status      int
		body        string
	}{
		{"/api/x", "hit", 503, "nope"},
		{"/api/x", "miss", 200, "GET /api/x miss"},
		{"/other", "hit", 200, "GET /other hit"},
	} {
		resp, body, _ := get(t, hc, "http://"+p.Listen+tc.path, http.Header{"X-Test": {tc.xtest}})
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s with X-Test %s: %d %q, want %d %q", tc.path, tc.xtest, resp.StatusCode, body, tc.status, tc.body)
		}
	}
	removeToxic(t, p, "abort")
	if resp, _, _ := get(t, hc, "http://"+p.Listen+"/api/x", http.Header{"X-Test": {"hit"}}); resp.StatusCode != 200 {
		t.Fatalf("after removing the toxic: status %d", resp.StatusCode)
	}
}

func TestHTTPAbortPercentage(t *testing.T) {
	e := newEnv(t)
	up, conns := httpUpstream(t)
	p := e.httpProxyTo(t, up)
	addToxic(t, p, "abort", "http_abort", "", 1, toxiproxy.Attributes{"status": 500, "percentage": 30, "path_regex": "^/items/[0-9]+$"})
	hc := httpClient()
	counts := map[int]int{}
	const n = 300
	for i := range n {
		resp, _, _ := get(t, hc, fmt.Sprintf("http://%s/items/%d", p.Listen, i), nil)
		counts[resp.StatusCode]++
	}
	// Binomial(300, 0.3): mean 90, sd 7.9; 55..125 is beyond 4 sd.
	if counts[500] < 55 || counts[500] > 125 || counts[200]+counts[500] != n {
		t.Fatalf("status counts %v for 30%% aborts", counts)
	}
	if resp, _, _ := get(t, hc, "http://"+p.Listen+"/items/x", nil); resp.StatusCode != 200 {
		t.Fatalf("a path the regexp does not match: status %d", resp.StatusCode)
	}
	if c := conns.Load(); c != 1 {
		t.Fatalf("the upstream saw %d connections: aborts must keep the connection alive", c)
	}
}

func TestHTTPDelay(t *testing.T) {
	e := newEnv(t)
	up, _ := httpUpstream(t)
	p := e.httpProxyTo(t, up)
	addToxic(t, p, "slow", "http_delay", "", 1, toxiproxy.Attributes{"delay": 150, "method": "GET", "path_prefix": "/slow"})
	hc := httpClient()
	if _, _, d := get(t, hc, "http://"+p.Listen+"/slow/1", nil); d < 150*time.Millisecond || d > time.Second {
		t.Fatalf("delayed request took %v, want 150ms", d)
	}
	if _, _, d := get(t, hc, "http://"+p.Listen+"/fast", nil); d > 100*time.Millisecond {
		t.Fatalf("a request the toxic does not match took %v", d)
	}
	removeToxic(t, p, "slow")
	if _, _, d := get(t, hc, "http://"+p.Listen+"/slow/1", nil); d > 100*time.Millisecond {
		t.Fatalf("after removing the toxic the request took %v", d)
	}
}

func TestHTTPHeaders(t *testing.T) {
	e := newEnv(t)
	up, _ := httpUpstream(t)
	p := e.httpProxyTo(t, up)
	addToxic(t, p, "hd", "http_headers", "", 1, toxiproxy.Attributes{
		"request":  map[string]string{"X-Test": "injected"},
		"response": map[string]string{"X-Upstream": "replaced", "X-Fault": "1"},
	})
	hc := httpClient()
	resp, body, _ := get(t, hc, "http://"+p.Listen+"/h", http.Header{"X-Test": {"original"}})
	if body != "GET /h injected" || resp.Header.Get("X-Upstream") != "replaced" || resp.Header.Get("X-Fault") != "1" {
		t.Fatalf("body %q, headers %v", body, resp.Header)
	}
	if _, err := p.UpdateToxic("hd", -1, toxiproxy.Attributes{"append": true}); err != nil {
		t.Fatal(err)
	}
	resp, _, _ = get(t, hc, "http://"+p.Listen+"/h", nil)
	if got := resp.Header.Values("X-Upstream"); len(got) != 2 {
		t.Fatalf("X-Upstream = %q after append, want the upstream's and the toxic's", got)
	}
}

// TCP toxics apply under the HTTP layer of an http proxy.
func TestHTTPWithTCPLatency(t *testing.T) {
	e := newEnv(t)
	up, _ := httpUpstream(t)
	p := e.httpProxyTo(t, up)
	hc := httpClient()
	get(t, hc, "http://"+p.Listen+"/", nil)
	addToxic(t, p, "lat", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 100})
	if _, _, d := get(t, hc, "http://"+p.Listen+"/", nil); d < 100*time.Millisecond || d > time.Second {
		t.Fatalf("request through 100ms latency took %v", d)
	}
}

func TestHTTPToxicNeedsHTTPProxy(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, echoServer(t))
	_, err := p.AddToxic("", "http_abort", "", 1, nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "protocol http") {
		t.Fatalf("http_abort on a tcp proxy: %v, want a 400 that says to set the protocol", err)
	}
}

// A request that is not HTTP is answered 400 and the connection closed.
func TestHTTPBadRequest(t *testing.T) {
	e := newEnv(t)
	up, _ := httpUpstream(t)
	p := e.httpProxyTo(t, up)
	c := dial(t, p.Listen)
	if _, err := io.WriteString(c, "HELLO\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 400") {
		t.Fatalf("answer to a non-HTTP request: %q", line)
	}
}

// An upstream closing an idle keep-alive connection closes the client's
// too, as a TCP proxy would: the client must not send its next request
// into a dead connection.
func TestHTTPUpstreamIdleCloseReachesClient(t *testing.T) {
	e := newEnv(t)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	s.Config.IdleTimeout = 100 * time.Millisecond
	s.Start()
	t.Cleanup(s.Close)
	p := e.httpProxyTo(t, s.Listener.Addr().String())
	c := dial(t, p.Listen)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the upstream's idle timeout: read %d bytes, %v; want the end of the stream", n, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the end of the stream came after %v", d)
	}
}
