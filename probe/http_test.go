package probe_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/probe"
)

// testMux serves what the http probe tests ask for.
func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "backend unavailable", http.StatusInternalServerError)
	})
	// /slow?d=300ms answers after d, or gives up when the client does.
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
			fmt.Fprint(w, "slow")
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status": "up", "count": 3, "ratio": 0.5, "items": [{"id": 1}, {"id": 2}], "checks": {"db": {"ok": true}}}`)
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "all good") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", 100<<10))
	})
	mux.HandleFunc("/bigjson", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"pad": "%s"}`, strings.Repeat("x", 5<<20))
	})
	// /cut promises a longer body than it sends, then hangs up.
	mux.HandleFunc("/cut", func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
		buf.Flush()
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s %s %s %s", r.Method, r.Host, r.Header.Get("X-Probe"), b)
	})
	return mux
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestHTTP(t *testing.T) {
	s := httptest.NewServer(testMux())
	defer s.Close()
	u := s.URL
	refused := "http://" + closedPort(t) + "/"
	runFlow(t, []flowCase{
		{"ok", `{http: {url: "` + u + `/ok"}, expect: {status: "2xx", latency: "< 500ms", body: "ok"}}`, true, ""},
		{"server error", `{http: {url: "` + u + `/fail"}, expect: {status: 200}}`, false, "status 500, want 200"},
		{"server error body", `{http: {url: "` + u + `/fail"}, expect: {body: "^ok"}}`, false, `body "backend unavailable\n", want ^ok`},
		{"status list", `{http: {url: "` + u + `/nocontent"}, expect: {status: [200, 204]}}`, true, ""},
		{"status range", `{http: {url: "` + u + `/nocontent"}, expect: {status: "200-299"}}`, true, ""},
		{"status range miss", `{http: {url: "` + u + `/fail"}, expect: {status: "200-299"}}`, false, "status 500, want 200-299"},
		{"slow", `{http: {url: "` + u + `/slow?d=300ms"}, expect: {status: 200, latency: "< 100ms"}}`, false, "latency 3"},
		{"slow enough", `{http: {url: "` + u + `/slow?d=300ms"}, expect: {latency: ">= 300ms"}}`, true, ""},
		{"timeout", `{http: {url: "` + u + `/slow?d=10s", timeout: 100ms}, expect: {status: 200}}`, false, "GET " + u + "/slow?d=10s: timed out after 100ms"},
		{"refused", `{http: {url: "` + refused + `"}, expect: {status: 200}}`, false, "GET " + refused + ": connection refused"},
		{"jsonPath number", `{http: {url: "` + u + `/json", jsonPath: "$.count"}, expect: {value: 3}}`, true, ""},
		{"jsonPath number compared", `{http: {url: "` + u + `/json", jsonPath: "$.ratio"}, expect: {value: "< 0.9"}}`, true, ""},
		{"jsonPath string", `{http: {url: "` + u + `/json", jsonPath: "$.status"}, expect: {value: up}}`, true, ""},
		{"jsonPath string differs", `{http: {url: "` + u + `/json", jsonPath: "$.status"}, expect: {value: down}}`, false, `value "up", want down`},
		{"jsonPath bool", `{http: {url: "` + u + `/json", jsonPath: "$.checks.db.ok"}, expect: {value: true}}`, true, ""},
		{"jsonPath filter", `{http: {url: "` + u + `/json", jsonPath: "$.items[?(@.id > 1)].id"}, expect: {value: 2}}`, true, ""},
		{"jsonPath finds nothing", `{http: {url: "` + u + `/json", jsonPath: "$.missing"}, expect: {status: 200}}`, false, "jsonPath $.missing found nothing in the body"},
		{"jsonPath on text", `{http: {url: "` + u + `/text", jsonPath: "$.status"}, expect: {status: 200}}`, false, "the body is not JSON"},
		{"jsonPath on a large body", `{http: {url: "` + u + `/bigjson", jsonPath: "$.pad"}, expect: {status: 200}}`, false, "the body is larger than 4MiB, too large for jsonPath"},
		{"body cut short", `{http: {url: "` + u + `/cut"}, expect: {status: 200}}`, false, "GET " + u + "/cut: reading the body: the connection was closed before the answer was complete"},
		{"redirect followed", `{http: {url: "` + u + `/redirect"}, expect: {status: 200, body: "^ok$"}}`, true, ""},
		{"redirect not followed", `{http: {url: "` + u + `/redirect", followRedirects: false}, expect: {status: 302}}`, true, ""},
		{"method, headers and body", `{http: {url: "` + u + `/echo", method: POST, headers: {X-Probe: on, Host: svc.test}, body: hello}, expect: {body: "^POST svc.test on hello$"}}`, true, ""},
	})
}

func TestHTTPMeasures(t *testing.T) {
	s := httptest.NewServer(testMux())
	defer s.Close()

	t.Run("several matches make a list", func(t *testing.T) {
		got := runCheck(t, `{http: {url: "`+s.URL+`/json", jsonPath: "$.items[*].id"}, expect: {status: 200}}`)
		if want := []any{1.0, 2.0}; !reflect.DeepEqual(got.Values["value"], want) {
			t.Errorf("value %#v, want %#v", got.Values["value"], want)
		}
	})
	t.Run("body is capped", func(t *testing.T) {
		got := runCheck(t, `{http: {url: "`+s.URL+`/big"}, expect: {status: 200}}`)
		if n := len(got.Values["body"].(string)); n != 64<<10 {
			t.Errorf("body of %d bytes, want 64KiB", n)
		}
	})
	t.Run("latency reaches the end of the body", func(t *testing.T) {
		got := runCheck(t, `{http: {url: "`+s.URL+`/slow?d=200ms"}, expect: {status: 200}}`)
		if l := got.Values["latency"].(time.Duration); l < 200*time.Millisecond {
			t.Errorf("latency %s, want at least 200ms", l)
		}
	})
	t.Run("a timeout still measures latency", func(t *testing.T) {
		got := runCheck(t, `{http: {url: "`+s.URL+`/slow?d=10s", timeout: 150ms}, expect: {status: 200}}`)
		l, ok := got.Values["latency"].(time.Duration)
		if !ok || l < 150*time.Millisecond || l > 5*time.Second {
			t.Errorf("latency %v, want about 150ms", got.Values["latency"])
		}
		if _, ok := got.Values["status"]; ok {
			t.Errorf("status measured without an answer: %v", got.Values)
		}
	})
	t.Run("a refusal still measures latency", func(t *testing.T) {
		got := runCheck(t, `{http: {url: "http://`+closedPort(t)+`/"}, expect: {status: 200}}`)
		if _, ok := got.Values["latency"].(time.Duration); !ok {
			t.Errorf("no latency in %v", got.Values)
		}
	})
	t.Run("detail", func(t *testing.T) {
		got := runCheck(t, `{http: {url: "`+s.URL+`/fail"}, expect: {status: 200}}`)
		if want := "500 Internal Server Error: backend unavailable"; got.Detail != want {
			t.Errorf("detail %q, want %q", got.Detail, want)
		}
	})
}

func TestHTTPTLS(t *testing.T) {
	s := httptest.NewTLSServer(testMux())
	defer s.Close()
	runFlow(t, []flowCase{
		{"untrusted certificate", `{http: {url: "` + s.URL + `/ok"}, expect: {status: 200}}`, false, "TLS certificate not trusted"},
		{"untrusted certificate advice", `{http: {url: "` + s.URL + `/ok"}, expect: {status: 200}}`, false, "set insecureSkipVerify: true"},
		{"insecureSkipVerify", `{http: {url: "` + s.URL + `/ok", insecureSkipVerify: true}, expect: {status: 200, body: "^ok$"}}`, true, ""},
	})
}

// TestHTTPConnections checks that samples share a kept-alive connection,
// and that a sample after the server dropped it dials a fresh one.
func TestHTTPConnections(t *testing.T) {
	var dialed atomic.Int32
	s := httptest.NewUnstartedServer(testMux())
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			dialed.Add(1)
		}
	}
	s.Start()
	defer s.Close()
	c := parseCheck(t, `{http: {url: "`+s.URL+`/ok"}, expect: {status: 200}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for i := range 3 {
		if got := probe.Run(ctx, c); !got.OK {
			t.Fatalf("sample %d: %q", i, got.Failures)
		}
	}
	if n := dialed.Load(); n != 1 {
		t.Errorf("3 samples opened %d connections, want 1 kept alive", n)
	}
	s.CloseClientConnections()
	if got := probe.Run(ctx, c); !got.OK {
		t.Fatalf("sample after the server closed the connection: %q", got.Failures)
	}
	if n := dialed.Load(); n != 2 {
		t.Errorf("%d connections after the server closed the first, want 2", n)
	}

	// A timed-out sample leaves no broken connection behind.
	slow := parseCheck(t, `{http: {url: "`+s.URL+`/slow?d=10s", timeout: 100ms}, expect: {status: 200}}`)
	if got := probe.Run(ctx, slow); got.OK {
		t.Fatal("slow sample passed")
	}
	if got := probe.Run(ctx, c); !got.OK {
		t.Fatalf("sample after a timeout: %q", got.Failures)
	}
}

func TestHTTPHonoursContext(t *testing.T) {
	s := httptest.NewServer(testMux())
	defer s.Close()
	c := parseCheck(t, `{http: {url: "`+s.URL+`/slow?d=10s", timeout: 10s}, expect: {status: 200}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	got := probe.Run(ctx, c)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s after the context ended", took)
	}
	if want := "interrupted: context deadline exceeded"; got.OK || !strings.Contains(got.Err, want) {
		t.Errorf("error %q, want it to say %q", got.Err, want)
	}
}

// TestHTTPWithoutDefaults measures settings built in code, without the
// kind's defaults (and so without a shared client).
func TestHTTPWithoutDefaults(t *testing.T) {
	s := httptest.NewServer(testMux())
	defer s.Close()
	k, _ := probe.Lookup("http")
	p := &probe.HTTPParams{URL: s.URL + "/redirect", Method: http.MethodGet, Timeout: experiment.Duration(2 * time.Second)}
	m := k.Measure(context.Background(), p)
	if m.Err != "" || m.Values["status"] != 302.0 {
		t.Errorf("got %+v, want status 302 (redirects not followed)", m)
	}
}

func TestHTTPInvalid(t *testing.T) {
	runInvalid(t, []invalidCase{
		{"missing url", `{http: {method: GET}}`, []string{"http.url", "required field is missing"}},
		{"other scheme", `{http: {url: "ftp://example.test/"}}`, []string{"http.url", "not an absolute http or https URL"}},
		{"relative url", `{http: {url: "/health"}}`, []string{"http.url", "not an absolute"}},
		{"unparsable url", `{http: {url: "http://[::1"}}`, []string{"http.url", "bad URL"}},
		{"lower-case method", `{http: {url: "http://127.0.0.1:1/", method: post}}`, []string{"http.method", "write POST"}},
		{"bad method", `{http: {url: "http://127.0.0.1:1/", method: "GET /"}}`, []string{"http.method", "bad method"}},
		{"bad header", `{http: {url: "http://127.0.0.1:1/", headers: {"X Bad": 1}}}`, []string{`http.headers.X Bad`, "bad header name"}},
		{"zero timeout", `{http: {url: "http://127.0.0.1:1/", timeout: 0s}}`, []string{"http.timeout", "above zero"}},
		{"timeout without unit", `{http: {url: "http://127.0.0.1:1/", timeout: 2}}`, []string{"http.timeout", "no unit"}},
		{"bad jsonPath", `{http: {url: "http://127.0.0.1:1/", jsonPath: "$.items[?(@.id >"}}`, []string{"http.jsonPath", "bad JSONPath"}},
		{"misspelt field", `{http: {url: "http://127.0.0.1:1/", methd: GET}}`, []string{"http.methd", `did you mean "method"`}},
		{"bool as string", `{http: {url: "http://127.0.0.1:1/", followRedirects: "no"}}`, []string{"http.followRedirects", "true or false"}},
		{"several at once", `{http: {url: "ftp://x/", timeout: 0s}}`, []string{"http.url", "http.timeout"}},
		{"value without jsonPath", `{http: {url: "http://127.0.0.1:1/"}, expect: {value: ok}}`, []string{"expect.value", "set jsonPath"}},
	})
}
