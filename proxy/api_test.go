package proxy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// The API is checked with Toxiproxy's own Go client (its error strings
// carry the status and message the server sent) and with raw requests for
// the exact shapes.

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// proxyUp reports whether addr accepts connections.
func proxyUp(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func freePort(t *testing.T) string {
	t.Helper()
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestClientProxyLifecycle(t *testing.T) {
	e := newEnv(t)
	c := e.client
	if ps, err := c.Proxies(); err != nil || len(ps) != 0 {
		t.Fatalf("proxies of a new server: %v, %v", ps, err)
	}
	_, err := c.CreateProxy("", "", "")
	wantErr(t, err, "Create: HTTP 400: missing required field: name")
	_, err = c.CreateProxy("db", "127.0.0.1:0", "")
	wantErr(t, err, "Create: HTTP 400: missing required field: upstream")

	echo := echoServer(t)
	p, err := c.CreateProxy("db", "localhost:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Enabled || p.Upstream != echo || !strings.HasPrefix(p.Listen, "127.0.0.1:") || !proxyUp(p.Listen) {
		t.Fatalf("created %+v", p)
	}
	_, err = c.CreateProxy("db", "127.0.0.1:0", echo)
	wantErr(t, err, "Create: HTTP 409: proxy already exists")
	_, err = c.CreateProxy("other", p.Listen, echo)
	wantErr(t, err, "Create: HTTP 500: listen tcp "+p.Listen+": bind: address already in use")

	got, err := c.Proxy("db")
	if err != nil || got.Name != "db" || got.Listen != p.Listen || !got.Enabled || len(got.ActiveToxics) != 0 {
		t.Fatalf("Proxy(db) = %+v, %v", got, err)
	}
	if err := got.Disable(); err != nil {
		t.Fatal(err)
	}
	if proxyUp(p.Listen) {
		t.Fatal("a disabled proxy accepts connections")
	}
	if err := got.Enable(); err != nil {
		t.Fatal(err)
	}
	if !proxyUp(p.Listen) {
		t.Fatal("an enabled proxy refuses connections")
	}

	// A new upstream takes effect for new connections.
	got.Upstream = sourceServer(t, 3)
	if err := got.Save(); err != nil {
		t.Fatal(err)
	}
	if n, _ := readAll(t, dial(t, got.Listen), 5*time.Second); n != 3 {
		t.Fatalf("read %d bytes from the new upstream", n)
	}

	if err := got.Delete(); err != nil {
		t.Fatal(err)
	}
	if proxyUp(p.Listen) {
		t.Fatal("a deleted proxy accepts connections")
	}
	wantErr(t, got.Delete(), "Delete: HTTP 404: proxy not found")
	_, err = c.Proxy("db")
	wantErr(t, err, "HTTP 404: proxy not found")
}

func TestClientPopulate(t *testing.T) {
	e := newEnv(t)
	c := e.client
	one, two := freePort(t), freePort(t)
	ps, err := c.Populate([]toxiproxy.Proxy{
		{Name: "one", Listen: one, Upstream: echoServer(t), Enabled: true},
		{Name: "two", Listen: two, Upstream: "127.0.0.1:1", Enabled: false},
	})
	if err != nil || len(ps) != 2 || ps[0].Name != "one" || ps[1].Name != "two" {
		t.Fatalf("populate: %v, %v", ps, err)
	}
	if !proxyUp(one) || proxyUp(two) {
		t.Fatal("populate: want one up and two down")
	}
	addToxic(t, ps[0], "", "latency", "", 1, nil)

	// The same proxy again is kept with its toxics; another upstream
	// replaces it.
	ps, err = c.Populate([]toxiproxy.Proxy{
		{Name: "one", Listen: strings.Replace(one, "127.0.0.1", "localhost", 1), Upstream: ps[0].Upstream, Enabled: true},
		{Name: "two", Listen: two, Upstream: "127.0.0.1:2", Enabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ts, _ := ps[0].Toxics(); len(ts) != 1 || ts[0].Name != "latency_downstream" {
		t.Fatalf("populate replaced an unchanged proxy: toxics %v", ts)
	}
	if ps[1].Upstream != "127.0.0.1:2" || !proxyUp(two) {
		t.Fatalf("populate kept a changed proxy: %+v", ps[1])
	}

	_, err = c.Populate([]toxiproxy.Proxy{{Name: "three", Upstream: "x:1"}, {Upstream: "x:2"}})
	wantErr(t, err, "Populate: HTTP 400: missing required field: name at proxy 2")
	if all, _ := c.Proxies(); len(all) != 2 {
		t.Fatalf("a failed populate created proxies: %v", all)
	}
}

// The populate file format: enabled may be left out (true) and faultline's
// protocol is read.
func TestPopulateFile(t *testing.T) {
	e := newEnv(t)
	f, err := os.Open("testdata/populate.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp, err := http.Post(e.api.URL+"/populate", "application/json", f)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Proxies []map[string]any `json:"proxies"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || len(out.Proxies) != 3 {
		t.Fatalf("populate: status %d, %v, %v", resp.StatusCode, out, err)
	}
	for i, want := range []struct {
		name     string
		enabled  bool
		protocol any
	}{{"db", true, nil}, {"cache", false, nil}, {"web", true, "http"}} {
		got := out.Proxies[i]
		if got["name"] != want.name || got["enabled"] != want.enabled || got["protocol"] != want.protocol {
			t.Errorf("proxy %d = %v, want %+v", i, got, want)
		}
	}
}

func TestClientToxics(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, echoServer(t))

	tx, err := p.AddToxic("", "latency", "", -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &toxiproxy.Toxic{Name: "latency_downstream", Type: "latency", Stream: "downstream", Toxicity: 1,
		Attributes: toxiproxy.Attributes{"latency": 0.0, "jitter": 0.0}}
	if !reflect.DeepEqual(tx, want) {
		t.Fatalf("added %+v, want %+v", tx, want)
	}
	_, err = p.AddToxic("latency_downstream", "slow_close", "upstream", 1, nil)
	wantErr(t, err, "AddToxic: HTTP 409: toxic already exists")
	_, err = p.AddToxic("", "walrus", "", 1, nil)
	wantErr(t, err, "AddToxic: HTTP 400: invalid toxic type")
	_, err = p.AddToxic("", "latency", "sideways", 1, nil)
	wantErr(t, err, "AddToxic: HTTP 400: stream was invalid, can be either upstream, downstream or both")
	_, err = p.AddToxic("x", "latency", "", 1, toxiproxy.Attributes{"latancy": 5})
	wantErr(t, err, `AddToxic: HTTP 400: bad request body: attributes: json: unknown field "latancy"`)

	tx, err = p.UpdateToxic("latency_downstream", 0.5, toxiproxy.Attributes{"latency": 100, "jitter": 10})
	if err != nil || tx.Toxicity != 0.5 || tx.Attributes["latency"] != 100.0 || tx.Attributes["jitter"] != 10.0 {
		t.Fatalf("update: %+v, %v", tx, err)
	}
	// Attributes left out and toxicity -1 keep their values.
	tx, err = p.UpdateToxic("latency_downstream", -1, toxiproxy.Attributes{"latency": 500})
	if err != nil || tx.Toxicity != 0.5 || tx.Attributes["latency"] != 500.0 || tx.Attributes["jitter"] != 10.0 {
		t.Fatalf("partial update: %+v, %v", tx, err)
	}
	_, err = p.UpdateToxic("nope", -1, nil)
	wantErr(t, err, "HTTP 404: toxic not found")
	wantErr(t, p.RemoveToxic("nope"), "HTTP 404: toxic not found")
	if err := p.RemoveToxic("latency_downstream"); err != nil {
		t.Fatal(err)
	}
	if ts, err := p.Toxics(); err != nil || len(ts) != 0 {
		t.Fatalf("toxics after removal: %v, %v", ts, err)
	}
}

// Every toxic type is accepted with Toxiproxy's attribute names, shows them
// back, and is removed; the effects are the other tests' business.
func TestClientEveryToxicType(t *testing.T) {
	e := newEnv(t)
	up, _ := httpUpstream(t)
	p := e.httpProxyTo(t, up)
	for _, tc := range []struct {
		typ    string
		stream string
		attrs  toxiproxy.Attributes
	}{
		{"latency", "both", toxiproxy.Attributes{"latency": 10.0, "jitter": 1.0}},
		{"bandwidth", "downstream", toxiproxy.Attributes{"rate": 100.0}},
		{"timeout", "upstream", toxiproxy.Attributes{"timeout": 1000.0}},
		{"reset_peer", "upstream", toxiproxy.Attributes{"timeout": 10.0}},
		{"slow_close", "downstream", toxiproxy.Attributes{"delay": 10.0}},
		{"slicer", "downstream", toxiproxy.Attributes{"average_size": 10.0, "size_variation": 2.0, "delay": 5.0}},
		{"limit_data", "downstream", toxiproxy.Attributes{"bytes": 10.0}},
		{"http_abort", "downstream", toxiproxy.Attributes{"status": 502.0, "body": "x", "percentage": 50.0, "path_prefix": "/a"}},
		{"http_delay", "downstream", toxiproxy.Attributes{"delay": 10.0, "percentage": 100.0, "method": "POST"}},
		{"http_headers", "downstream", toxiproxy.Attributes{"percentage": 100.0, "request": map[string]any{"A": "b"}}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			tx, err := p.AddToxic(tc.typ, tc.typ, tc.stream, 0.7, tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if tx.Name != tc.typ || tx.Type != tc.typ || tx.Stream != tc.stream || tx.Toxicity != 0.7 {
				t.Fatalf("added %+v", tx)
			}
			for k, v := range tc.attrs {
				if !reflect.DeepEqual(tx.Attributes[k], v) {
					t.Errorf("attribute %s = %v, want %v", k, tx.Attributes[k], v)
				}
			}
			if err := p.RemoveToxic(tc.typ); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestClientReset(t *testing.T) {
	e := newEnv(t)
	a := e.proxyTo(t, echoServer(t))
	b := e.proxyTo(t, echoServer(t))
	addToxic(t, a, "", "latency", "", 1, toxiproxy.Attributes{"latency": 1000})
	if err := b.Disable(); err != nil {
		t.Fatal(err)
	}
	if err := e.client.ResetState(); err != nil {
		t.Fatal(err)
	}
	ps, err := e.client.Proxies()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !p.Enabled || len(p.ActiveToxics) != 0 || !proxyUp(p.Listen) {
			t.Fatalf("after reset: %+v", p)
		}
	}
	c := dial(t, a.Listen)
	if d := roundTrip(t, c, bufio.NewReader(c)); d > 500*time.Millisecond {
		t.Fatalf("round trip after reset took %v", d)
	}
}

// Raw requests: the status codes and bodies of the API, as Toxiproxy sends
// them.
func TestAPIShapes(t *testing.T) {
	e := newEnv(t)
	e.proxyTo(t, "127.0.0.1:9") // p<N>: found by listing
	ps, _ := e.client.Proxies()
	var name string
	for n := range ps {
		name = n
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string // the body, "" to skip
	}{
		{"GET", "/version", "", 200, "{\"version\": \"2.12.0\"}\n"},
		{"GET", "/proxies/nope", "", 404, `{"error":"proxy not found","status":404}` + "\n"},
		{"DELETE", "/proxies/nope", "", 404, `{"error":"proxy not found","status":404}` + "\n"},
		{"GET", "/proxies/nope/toxics", "", 404, `{"error":"proxy not found","status":404}` + "\n"},
		{"POST", "/proxies", "{", 400, `{"error":"bad request body: unexpected end of JSON input","status":400}` + "\n"},
		{"POST", "/proxies", `{"name":"x","upstream":"y:1","protocol":"udp"}`, 400, `{"error":"protocol \"udp\": want tcp or http","status":400}` + "\n"},
		{"POST", "/proxies/" + name + "/toxics", `{"type":"latency","attributes":{"latency":-1}}`, 400, `{"error":"attributes: latency and jitter must not be negative","status":400}` + "\n"},
		{"POST", "/proxies/" + name + "/toxics", `{"type":"latency","toxicity":2}`, 400, `{"error":"toxicity 2 is outside 0..1 (the probability that a connection is affected)","status":400}` + "\n"},
		{"POST", "/proxies/" + name + "/toxics", `{"name":"l","type":"latency","stream":"both","attributes":{"latency":5}}`, 200,
			`{"attributes":{"latency":5,"jitter":0},"name":"l","type":"latency","stream":"both","toxicity":1}`},
		{"GET", "/proxies/" + name + "/toxics/l", "", 200, `{"attributes":{"latency":5,"jitter":0},"name":"l","type":"latency","stream":"both","toxicity":1}`},
		{"GET", "/proxies/" + name + "/toxics", "", 200, `[{"attributes":{"latency":5,"jitter":0},"name":"l","type":"latency","stream":"both","toxicity":1}]`},
		{"PATCH", "/proxies/" + name + "/toxics/l", `{"toxicity":0.25}`, 200, `{"attributes":{"latency":5,"jitter":0},"name":"l","type":"latency","stream":"both","toxicity":0.25}`},
		{"DELETE", "/proxies/" + name + "/toxics/l", "", 204, ""},
		{"DELETE", "/proxies/" + name + "/toxics/l", "", 404, `{"error":"toxic not found","status":404}` + "\n"},
		{"POST", "/reset", "", 204, ""},
		{"POST", "/populate", `[{"name":"a","upstream":"b:1"},{"name":"c"}]`, 400, `{"error":"missing required field: upstream at proxy 2","status":400,"proxies":null}`},
		{"PUT", "/proxies", "", 405, ""},
		{"GET", "/nowhere", "", 404, ""},
	} {
		req, err := http.NewRequest(tc.method, e.api.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || tc.want != "" && string(b) != tc.want {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, b, tc.status, tc.want)
		}
	}
}

func TestAPIShowsProxy(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, "127.0.0.1:9")
	resp, err := http.Get(e.api.URL + "/proxies/" + p.Name)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `{"name":"` + p.Name + `","listen":"` + p.Listen + `","upstream":"127.0.0.1:9","enabled":true,"toxics":[]}`
	if string(b) != want || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /proxies/%s = %s (%s), want %s", p.Name, b, resp.Header.Get("Content-Type"), want)
	}
}

func TestAPIRefusesBrowsers(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("POST", e.api.URL+"/reset", bytes.NewReader(nil))
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a browser got %d", resp.StatusCode)
	}
}
