package proxy_test

import (
	"bufio"
	"io"
	"net"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// The benchmarks compare, on loopback, a direct connection with one
// through the proxy without toxics (io.Copy, splice), with a toxic that
// does nothing (latency 0: the toxic pipeline), and after every toxic was
// removed from a connection that had them (back to io.Copy: the figure
// must match the one without toxics).
//
//	go test -run '^$' -bench . -benchtime 2s ./proxy

// setup makes the connection of one case. For "proxy-toxics-removed" it
// also returns a function removing the toxic, to call once the connection
// carried data through it.
type setup struct {
	name    string
	connect func(b *testing.B, e *env, upstream string) (c net.Conn, removeToxics func())
}

var setups = []setup{
	{"direct", func(b *testing.B, _ *env, upstream string) (net.Conn, func()) { return dial(b, upstream), nil }},
	{"proxy", func(b *testing.B, e *env, upstream string) (net.Conn, func()) {
		return dial(b, e.proxyTo(b, upstream).Listen), nil
	}},
	{"proxy-noop-toxic", func(b *testing.B, e *env, upstream string) (net.Conn, func()) {
		p := e.proxyTo(b, upstream)
		addToxic(b, p, "noop", "latency", "both", 1, toxiproxy.Attributes{"latency": 0})
		return dial(b, p.Listen), nil
	}},
	{"proxy-toxics-removed", func(b *testing.B, e *env, upstream string) (net.Conn, func()) {
		p := e.proxyTo(b, upstream)
		addToxic(b, p, "noop", "latency", "both", 1, toxiproxy.Attributes{"latency": 0})
		return dial(b, p.Listen), func() { removeToxic(b, p, "noop") }
	}},
}

// BenchmarkBulk measures the throughput of one connection sending 1MiB
// writes to a server that reads them.
func BenchmarkBulk(b *testing.B) {
	for _, s := range setups {
		b.Run(s.name, func(b *testing.B) {
			e := newEnv(b)
			ln := listen(b)
			done := make(chan int64, 1)
			serveConns(ln, func(c net.Conn) {
				n, _ := io.Copy(io.Discard, c)
				done <- n
			})
			c, removeToxics := s.connect(b, e, ln.Addr().String())
			buf := make([]byte, 1<<20)
			if removeToxics != nil {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
				removeToxics()
			}
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			_ = c.(*net.TCPConn).CloseWrite()
			<-done // every byte arrived
		})
	}
}

// BenchmarkRoundTrip measures 64-byte request-response round trips on one
// connection to an echo server.
func BenchmarkRoundTrip(b *testing.B) {
	for _, s := range setups {
		b.Run(s.name, func(b *testing.B) {
			e := newEnv(b)
			c, removeToxics := s.connect(b, e, echoServer(b))
			br := bufio.NewReader(c)
			msg := make([]byte, 64)
			got := make([]byte, 64)
			roundTrip := func() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(br, got); err != nil {
					b.Fatal(err)
				}
			}
			if removeToxics != nil {
				for range 100 {
					roundTrip()
				}
				removeToxics()
			}
			b.ResetTimer()
			for range b.N {
				roundTrip()
			}
		})
	}
}
