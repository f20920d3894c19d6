package load

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		noBody bool
		status int
		keep   bool
		// rest is what must be left unread: the next answer.
		rest string
		err  string
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT", false, 200, true, "NEXT", ""},
		{"no reason phrase", "HTTP/1.1 204\r\n\r\nNEXT", false, 204, true, "NEXT", ""},
		{"header case and spaces", "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh:   3  \r\n\r\nabcNEXT", false, 200, true, "NEXT", ""},
		{"bare LF lines", "HTTP/1.1 200 OK\nContent-Length: 2\n\nokNEXT", false, 200, true, "NEXT", ""},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\n\r\nNEXT", false, 200, true, "NEXT", ""},
		{"chunked with trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\nNEXT", false, 200, true, "NEXT", ""},
		{"chunked wins over length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nNEXT", false, 200, true, "NEXT", ""},
		{"HEAD has no body", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nNEXT", true, 200, true, "NEXT", ""},
		{"304 has no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\nNEXT", false, 304, true, "NEXT", ""},
		{"interim answers skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nNEXT", false, 201, true, "NEXT", ""},
		{"connection close", "HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy", false, 503, false, "", ""},
		{"HTTP/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, 200, false, "", ""},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nokNEXT", false, 200, true, "NEXT", ""},
		{"body to the end", "HTTP/1.1 200 OK\r\n\r\nall of this until the connection ends", false, 200, false, "", ""},
		{"long header ignored", "HTTP/1.1 200 OK\r\nSet-Cookie: " + strings.Repeat("c", 3*readBufferSize) + "\r\nContent-Length: 1\r\n\r\nxNEXT", false, 200, true, "NEXT", ""},
		{"bad status line", "HTTP/2 200 OK\r\n\r\n", false, 0, false, "", "bad answer: status line"},
		{"status out of range", "HTTP/1.1 600 What\r\n\r\n", false, 0, false, "", "bad answer: status line"},
		{"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n", false, 0, false, "", "bad answer: status line"},
		{"header without colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", false, 0, false, "", "bad answer: header line"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, 0, false, "", "bad answer: Content-Length"},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", false, 0, false, "", "bad answer: Content-Length"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, 200, false, "", "bad answer: chunk size"},
		{"chunk overruns", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n0\r\n\r\n", false, 200, false, "", "not followed by a line end"},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", false, 0, false, "", "switched protocols"},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, 200, false, "", io.ErrUnexpectedEOF.Error()},
		{"closed before the headers end", "HTTP/1.1 200 OK\r\nContent-Len", false, 0, false, "", io.EOF.Error()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tc.in), readBufferSize)
			status, keep, err := readResponse(br, tc.noBody)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				if status != tc.status {
					t.Errorf("status %d, want %d", status, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.status || keep != tc.keep {
				t.Errorf("status %d keepAlive %v, want %d %v", status, keep, tc.status, tc.keep)
			}
			if rest, _ := io.ReadAll(br); string(rest) != tc.rest {
				t.Errorf("left %q unread, want %q", rest, tc.rest)
			}
		})
	}
}

func TestProtocolErrorsAreClassified(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("garbage\r\n"))
	_, _, err := readResponse(br, false)
	if got := errNames[classify(err)]; got != "protocol" {
		t.Errorf("%v classified as %q, want protocol", err, got)
	}
}

func TestParseTargetSerialises(t *testing.T) {
	cases := []struct {
		name   string
		target Target
		want   string
		addr   string
	}{
		{"GET", Target{URL: "http://127.0.0.1:8080/a?b=c"}, "GET /a?b=c HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: faultline-load\r\n\r\n", "127.0.0.1:8080"},
		{"default port and path", Target{URL: "http://localhost"}, "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: faultline-load\r\n\r\n", "localhost:80"},
		{"https port", Target{URL: "https://[::1]/x"}, "GET /x HTTP/1.1\r\nHost: [::1]\r\nUser-Agent: faultline-load\r\n\r\n", "[::1]:443"},
		{"POST with body and headers", Target{URL: "http://h:1/p", Method: "POST", Body: `{"a":1}`,
			Headers: http.Header{"Content-Type": {"application/json"}, "X-Many": {"1", "2"}, "Host": {"api.example"}, "User-Agent": {"me"}}},
			"POST /p HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\nUser-Agent: me\r\nX-Many: 1\r\nX-Many: 2\r\nContent-Length: 7\r\n\r\n{\"a\":1}", "h:1"},
		{"header names in any case", Target{URL: "http://h:1/", Headers: http.Header{"host": {"other"}, "user-agent": {"me"}}},
			"GET / HTTP/1.1\r\nHost: other\r\nuser-agent: me\r\n\r\n", "h:1"},
		{"empty POST says so", Target{URL: "http://h:1/", Method: "POST"}, "POST / HTTP/1.1\r\nHost: h:1\r\nUser-Agent: faultline-load\r\nContent-Length: 0\r\n\r\n", "h:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, raw, err := parseTarget(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != tc.want {
				t.Errorf("request\n%q\nwant\n%q", raw, tc.want)
			}
			if e.addr != tc.addr {
				t.Errorf("dials %s, want %s", e.addr, tc.addr)
			}
		})
	}
}

func TestConfigErrorsNameTheirFields(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no target", Config{Rate: 1}, []string{"targets: no target"}},
		{"bad url", Config{Rate: 1, Targets: []Target{{URL: "ftp://x/"}, {URL: "http://x/", Method: "get"}}},
			[]string{"targets[0].url: \"ftp://x/\" is not an absolute http", "targets[1].method: methods are case-sensitive: write GET"}},
		{"bad header", Config{Rate: 1, Targets: []Target{{URL: "http://x/", Headers: http.Header{"X": {"a\r\nb"}, "Content-Length": {"3"}}}}},
			[]string{"targets[0].headers.X: a header value cannot hold a line break", "targets[0].headers.Content-Length: Content-Length is set by the load generator"}},
		{"bad weight", Config{Rate: 1, Targets: []Target{{URL: "http://x/", Weight: -1}}}, []string{"targets[0].weight: -1 is outside 1..1000"}},
		{"negative rate", Config{Rate: -1, Targets: []Target{{URL: "http://x/"}}}, []string{"rate: -1 is outside"}},
		{"negative concurrency", Config{Concurrency: -1, Targets: []Target{{URL: "http://x/"}}}, []string{"concurrency: must not be negative"}},
		{"max below concurrency", Config{Rate: 10, Concurrency: 5, MaxInFlight: 2, Targets: []Target{{URL: "http://x/"}}}, []string{"maxInFlight: 2 is below concurrency 5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %q holds no FieldError", err)
			}
		})
	}
}

func TestWeightedOrder(t *testing.T) {
	cases := []struct {
		weights []int
		want    []uint16
	}{
		{[]int{1}, []uint16{0}},
		{[]int{2, 2}, []uint16{0, 1}},
		{[]int{3, 1}, []uint16{0, 0, 1, 0}},
		{[]int{5, 1, 1}, []uint16{0, 0, 1, 0, 2, 0, 0}},
	}
	for _, tc := range cases {
		if got := weightedOrder(slices.Clone(tc.weights)); !slices.Equal(got, tc.want) {
			t.Errorf("weights %v: order %v, want %v", tc.weights, got, tc.want)
		}
	}
}

// TestIdleConnectionClosedWithoutReset: a server that closed a kept-alive
// connection while it was idle, and drops what it reads afterwards instead
// of resetting the connection (a lingering close), signals nothing when the
// next request comes. Written to after a second of idleness, the connection
// shows its end of file at once, and the request goes on a new one.
func TestIdleConnectionClosedWithoutReset(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
						_ = c.(*net.TCPConn).CloseWrite()
						_, _ = io.Copy(io.Discard, br) // lingers
						return
					}
				}
			}()
		}
	}()
	g, err := New(Config{Targets: []Target{{URL: "http://" + l.Addr().String() + "/"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g.runCtx = ctx // as Run sets it
	defer g.pools[0].closeIdle()
	now := time.Now()
	for i, deadline := range []time.Time{now.Add(time.Second), now.Add(time.Second + keptWarm)} {
		start := time.Now()
		if status, err := g.exchange(ctx, &g.requests[0], deadline); err != nil || status != 200 {
			t.Fatalf("exchange %d: %d, %v", i, status, err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("exchange %d took %s", i, d)
		}
	}
}
