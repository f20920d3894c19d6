package proxy_test

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// The tests below drive the proxy with Toxiproxy's own client and check
// each toxic's effect on real loopback connections, then its removal on the
// same connection. Timing assertions leave room for a loaded machine; the
// accuracy figures are the benchmarks' business.

func TestNoToxicPassesBytesBothWays(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, echoServer(t))
	c := dial(t, p.Listen)
	br := bufio.NewReader(c)
	for range 10 {
		roundTrip(t, c, br)
	}
	// Half close: the echo server sees the end, finishes, and so do we.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, _ := readAll(t, c, 5*time.Second); n != 0 {
		t.Fatalf("%d bytes after the echoes", n)
	}
}

func TestLatency(t *testing.T) {
	for _, tc := range []struct {
		stream string
		want   time.Duration // added to a round trip
	}{
		{"downstream", 100 * time.Millisecond},
		{"upstream", 100 * time.Millisecond},
		{"both", 200 * time.Millisecond},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			e := newEnv(t)
			p := e.proxyTo(t, echoServer(t))
			c := dial(t, p.Listen)
			br := bufio.NewReader(c)
			if d := roundTrip(t, c, br); d > 50*time.Millisecond {
				t.Fatalf("round trip without toxic took %v", d)
			}
			addToxic(t, p, "lat", "latency", tc.stream, 1, toxiproxy.Attributes{"latency": 100})
			d := roundTrip(t, c, br)
			if d < tc.want || d > tc.want+150*time.Millisecond {
				t.Fatalf("round trip with %s latency 100ms took %v, want %v added", tc.stream, d, tc.want)
			}
			removeToxic(t, p, "lat")
			if d := roundTrip(t, c, br); d > 50*time.Millisecond {
				t.Fatalf("round trip after removing the toxic took %v", d)
			}
		})
	}
}

func TestLatencyUpdateAndJitter(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, echoServer(t))
	c := dial(t, p.Listen)
	br := bufio.NewReader(c)
	addToxic(t, p, "lat", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 50})
	if d := roundTrip(t, c, br); d < 50*time.Millisecond {
		t.Fatalf("round trip took %v, want 50ms added", d)
	}
	if _, err := p.UpdateToxic("lat", -1, toxiproxy.Attributes{"latency": 150, "jitter": 20}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if d := roundTrip(t, c, br); d < 130*time.Millisecond || d > 320*time.Millisecond {
			t.Fatalf("round trip after the update took %v, want 150ms±20ms added", d)
		}
	}
}

// A long latency being removed while data waits in it: the data goes at
// once, nothing is lost.
func TestRemovingLatencyReleasesWaitingData(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, echoServer(t))
	c := dial(t, p.Listen)
	br := bufio.NewReader(c)
	roundTrip(t, c, br) // the link is up before the toxic
	addToxic(t, p, "lat", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 60_000})
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = p.RemoveToxic("lat")
	}()
	if d := roundTrip(t, c, br); d > 3*time.Second {
		t.Fatalf("round trip took %v: removing the toxic did not release the data", d)
	}
}

func TestBandwidth(t *testing.T) {
	e := newEnv(t)
	const size = 8 << 20
	p := e.proxyTo(t, sourceServer(t, size))
	addToxic(t, p, "bw", "bandwidth", "downstream", 1, toxiproxy.Attributes{"rate": 500}) // 500 KB/s
	c := dial(t, p.Listen)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	// Let the connection reach its steady rate, then count.
	if _, err := io.CopyN(io.Discard, c, 20_000); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := io.CopyN(io.Discard, c, 200_000); err != nil {
		t.Fatal(err)
	}
	rate := 200_000 / time.Since(start).Seconds()
	if rate < 350_000 || rate > 600_000 {
		t.Fatalf("measured %.0f B/s through a 500 KB/s toxic", rate)
	}
	removeToxic(t, p, "bw")
	n, d := readAll(t, c, 10*time.Second)
	if fast := float64(n) / d.Seconds(); fast < 10*rate {
		t.Fatalf("after removing the toxic: %d bytes at %.0f B/s, want full speed", n, fast)
	}
}

func TestTimeoutHoldsDataUntilRemoved(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, echoServer(t))
	c := dial(t, p.Listen)
	br := bufio.NewReader(c)
	roundTrip(t, c, br)
	addToxic(t, p, "to", "timeout", "upstream", 1, toxiproxy.Attributes{"timeout": 0})
	if _, err := io.WriteString(c, "held\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br.ReadString('\n'); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read through a timeout toxic: %v, want no data (a read timeout)", err)
	}
	removeToxic(t, p, "to")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := br.ReadString('\n'); err != nil || got != "held\n" {
		t.Fatalf("after removing the toxic read %q, %v; want the held data", got, err)
	}
	roundTrip(t, c, br)
}

func TestTimeoutClosesAfterItsTime(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, echoServer(t))
	addToxic(t, p, "to", "timeout", "downstream", 1, toxiproxy.Attributes{"timeout": 200})
	c := dial(t, p.Listen)
	start := time.Now()
	if _, err := io.WriteString(c, "dropped?\n"); err != nil {
		t.Fatal(err)
	}
	n, d := readAll(t, c, 5*time.Second)
	if n != 0 || d < 150*time.Millisecond || time.Since(start) > 2*time.Second {
		t.Fatalf("got %d bytes, closed after %v; want nothing and a close after 200ms", n, d)
	}
}

func TestResetPeer(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, echoServer(t))
	addToxic(t, p, "rst", "reset_peer", "upstream", 1, toxiproxy.Attributes{"timeout": 100})
	c := dial(t, p.Listen)
	start := time.Now()
	if _, err := io.WriteString(c, "boom\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 10))
	if !isReset(err) {
		t.Fatalf("read after reset_peer: %v, want ECONNRESET", err)
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("reset after %v, want after the 100ms timeout", d)
	}
	removeToxic(t, p, "rst")
	c = dial(t, p.Listen)
	roundTrip(t, c, bufio.NewReader(c))
}

func TestSlowClose(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, sourceServer(t, 1000))
	c := dial(t, p.Listen)
	if n, d := readAll(t, c, 5*time.Second); n != 1000 || d > 100*time.Millisecond {
		t.Fatalf("without toxic: %d bytes in %v", n, d)
	}
	addToxic(t, p, "sc", "slow_close", "downstream", 1, toxiproxy.Attributes{"delay": 300})
	c = dial(t, p.Listen)
	if n, d := readAll(t, c, 5*time.Second); n != 1000 || d < 280*time.Millisecond || d > 2*time.Second {
		t.Fatalf("with slow_close 300ms: %d bytes, end of stream after %v", n, d)
	}
}

func TestSlicer(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, sourceServer(t, 2000))
	addToxic(t, p, "sl", "slicer", "downstream", 1, toxiproxy.Attributes{"average_size": 100, "size_variation": 20, "delay": 2000})
	c := dial(t, p.Listen)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	var total, reads, biggest int
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		total += n
		reads++
		biggest = max(biggest, n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// 2000 bytes in slices of 80..120 bytes, 2ms apart: about 20 slices,
	// at least 19 gaps (38ms). Slices may coalesce in the client's
	// socket buffer on a slow machine, so only the gaps are certain.
	if total != 2000 || time.Since(start) < 30*time.Millisecond || reads < 5 {
		t.Fatalf("%d bytes in %d reads (biggest %d) over %v", total, reads, biggest, time.Since(start))
	}
}

func TestLimitData(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, sourceServer(t, 1<<20))
	addToxic(t, p, "ld", "limit_data", "downstream", 1, toxiproxy.Attributes{"bytes": 50_000})
	c := dial(t, p.Listen)
	if n, _ := readAll(t, c, 5*time.Second); n != 50_000 {
		t.Fatalf("read %d bytes through limit_data 50000", n)
	}
	removeToxic(t, p, "ld")
	if n, _ := readAll(t, dial(t, p.Listen), 5*time.Second); n != 1<<20 {
		t.Fatalf("read %d bytes after removing the toxic", n)
	}
}

func TestDisableRefusesAndCloses(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, echoServer(t))
	c := dial(t, p.Listen)
	br := bufio.NewReader(c)
	roundTrip(t, c, br)
	if err := p.Disable(); err != nil {
		t.Fatal(err)
	}
	if n, _ := readAll(t, c, 5*time.Second); n != 0 {
		t.Fatalf("read %d bytes from a connection of a disabled proxy", n)
	}
	if c, err := net.DialTimeout("tcp", p.Listen, time.Second); err == nil {
		c.Close()
		t.Fatal("a disabled proxy accepted a connection")
	}
	if err := p.Enable(); err != nil {
		t.Fatal(err)
	}
	c = dial(t, p.Listen)
	roundTrip(t, c, bufio.NewReader(c))
}

func TestToxicity(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, echoServer(t))
	addToxic(t, p, "lat", "latency", "downstream", 0.5, toxiproxy.Attributes{"latency": 100})
	const conns = 24
	slow := 0
	for range conns {
		c := dial(t, p.Listen)
		br := bufio.NewReader(c)
		d := roundTrip(t, c, br)
		if d >= 90*time.Millisecond {
			slow++
		}
		// The draw is per connection: the same connection stays as it was.
		if d2 := roundTrip(t, c, br); (d2 >= 90*time.Millisecond) != (d >= 90*time.Millisecond) {
			t.Fatalf("one connection took %v then %v", d, d2)
		}
		c.Close()
	}
	// Binomial(24, 0.5): 4..20 holds with probability > 0.9997.
	if slow < 4 || slow > 20 {
		t.Fatalf("%d of %d connections affected at toxicity 0.5", slow, conns)
	}
}

// Toxics come and go while a connection carries data both ways: every
// byte arrives, in order, and the connection stays up.
func TestToxicsSwitchOnLiveConnection(t *testing.T) {
	e := newEnv(t)
	p := e.proxyTo(t, echoServer(t))
	c := dial(t, p.Listen)
	const switches = 150
	var switched atomic.Int64
	sent, got := sha256.New(), sha256.New()
	var wg sync.WaitGroup
	wg.Go(func() {
		// Send until the toxics have come and gone many times.
		buf := make([]byte, 64<<10)
		for i := 0; i < 10_000 && switched.Load() < switches; i++ {
			_, _ = rand.Read(buf)
			if _, err := c.Write(buf); err != nil {
				t.Errorf("write: %v", err)
				break
			}
			sent.Write(buf)
		}
		_ = c.CloseWrite()
	})
	wg.Go(func() {
		kinds := []struct {
			typ   string
			attrs toxiproxy.Attributes
		}{
			{"latency", toxiproxy.Attributes{"latency": 1}},
			{"bandwidth", toxiproxy.Attributes{"rate": 50_000}},
			{"slicer", toxiproxy.Attributes{"average_size": 4096, "delay": 10}},
		}
		for i := range switches {
			k := kinds[i%len(kinds)]
			stream := []string{"upstream", "downstream", "both"}[i%3]
			if _, err := p.AddToxic("t", k.typ, stream, 1, k.attrs); err != nil {
				t.Errorf("add: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
			if err := p.RemoveToxic("t"); err != nil {
				t.Errorf("remove: %v", err)
				return
			}
			switched.Add(1)
		}
	})
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	n, err := io.Copy(got, c)
	wg.Wait()
	if err != nil {
		t.Fatalf("echoed %d bytes: %v", n, err)
	}
	if string(sent.Sum(nil)) != string(got.Sum(nil)) {
		t.Fatalf("the %d bytes echoed differ from those sent", n)
	}
}
