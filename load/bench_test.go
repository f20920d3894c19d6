package load

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The hot path, measured: go test -run XXX -bench . -benchmem ./load

const benchAnswer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 23 Nov 2026 12:00:00 GMT\r\nContent-Length: 3\r\n\r\nok\n"

func BenchmarkReadResponse(b *testing.B) {
	for _, bc := range []struct{ name, answer string }{
		{"content-length", benchAnswer},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nok\n\r\n0\r\n\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src := strings.NewReader(bc.answer)
			br := bufio.NewReaderSize(src, readBufferSize)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(bc.answer)
				br.Reset(src)
				if _, _, err := readResponse(br, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecord is the statistics' cost per request, from every core at
// once, with one target and with several (each with figures of its own).
func BenchmarkRecord(b *testing.B) {
	for _, targets := range []int{1, 3} {
		b.Run(fmt.Sprintf("targets=%d", targets), func(b *testing.B) {
			r := newRecorder(5*time.Second, func(s int) bool { return s < 400 }, targets)
			r.begin(time.Now())
			var next atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					now := time.Now()
					r.record(int(next.Add(1)%uint64(targets)), now.Add(-300*time.Microsecond), now, 200, nil)
				}
			})
		})
	}
}

// cannedServer answers every request on a loopback connection with
// benchAnswer, without allocating, so the benchmark's allocations are the
// client's.
func cannedServer(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				answer := []byte(benchAnswer)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					for range bytes.Count(buf[:n], []byte("\r\n\r\n")) {
						if _, err := c.Write(answer); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return "http://" + l.Addr().String() + "/"
}

// BenchmarkExchange sends requests one after another on a kept-alive
// loopback connection: this client, and net/http's for comparison.
func BenchmarkExchange(b *testing.B) {
	url := cannedServer(b)
	b.Run("load", func(b *testing.B) {
		g, err := New(Config{Targets: []Target{{URL: url}}, Concurrency: 1})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		g.runCtx = ctx // as Run sets it
		defer g.pools[0].closeIdle()
		b.ReportAllocs()
		for b.Loop() {
			if status, err := g.exchange(ctx, &g.requests[0], time.Now().Add(time.Second)); err != nil || status != 200 {
				b.Fatal(status, err)
			}
		}
	})
	b.Run("net-http", func(b *testing.B) {
		tr := &http.Transport{MaxIdleConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
