package proxy

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// link is one client connection and its connection to the upstream: a pump
// for each direction and, for an http proxy, the exchange loop between them.
type link struct {
	p        *proxy
	client   *net.TCPConn
	upstream *net.TCPConn
	pumps    [2]*pump
	http     *exchanger // nil for a tcp proxy

	done chan struct{} // closed by close
	once sync.Once

	rollMu sync.Mutex
	rolls  map[uint64]roll // whether each toxic hits this connection
}

// roll is the draw of one toxic's toxicity for a connection; it is drawn
// again when the toxicity changes.
type roll struct {
	toxicity float64
	hit      bool
}

func newLink(p *proxy, client, upstream *net.TCPConn, httpMode bool) *link {
	l := &link{p: p, client: client, upstream: upstream, done: make(chan struct{}), rolls: map[uint64]roll{}}
	if !httpMode {
		l.pumps[0] = newPump(l, up, client, upstream, upstream.CloseWrite)
		l.pumps[1] = newPump(l, down, upstream, client, client.CloseWrite)
		return l
	}
	// The pumps apply the TCP toxics to the bytes of each direction and
	// hand them to the exchange loop through pipes; the loop parses
	// requests and responses and writes them to the sockets.
	reqR, reqW := io.Pipe()
	respR, respW := io.Pipe()
	l.pumps[0] = newPump(l, up, client, reqW, reqW.Close)
	l.pumps[1] = newPump(l, down, upstream, respW, respW.Close)
	l.http = &exchanger{follower: newFollower(l, isHTTP), requests: reqR, responses: respR, pipes: []*io.PipeReader{reqR, respR}, writers: []*io.PipeWriter{reqW, respW}}
	return l
}

// run moves bytes until both directions are done, then closes the link.
func (l *link) run() {
	var wg sync.WaitGroup
	for _, p := range l.pumps {
		wg.Go(p.run)
	}
	if l.http != nil {
		wg.Go(l.http.serve)
	}
	wg.Wait()
	l.close()
}

// close closes both sockets (and the pipes of an http link), which ends
// every goroutine of the link.
func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		_ = l.client.Close()
		_ = l.upstream.Close()
		if l.http != nil {
			l.http.closePipes()
		}
	})
}

// reset closes both sockets with SO_LINGER 0, so each peer gets a TCP RST
// (ECONNRESET) rather than an orderly end of stream.
func (l *link) reset() {
	_ = l.client.SetLinger(0)
	_ = l.upstream.SetLinger(0)
	l.close()
}

// poke makes the directions copying without toxics look at the chain
// again, by interrupting their io.Copy with a read deadline.
func (l *link) poke() {
	for _, p := range l.pumps {
		if p.fast.Load() {
			_ = p.src.SetReadDeadline(aLongTimeAgo)
		}
	}
}

// aLongTimeAgo is a deadline in the past: set, it makes reads return at once.
var aLongTimeAgo = time.Unix(1, 0)

// hit reports whether t affects this connection: it is drawn once per
// connection with probability t.toxicity.
func (l *link) hit(t *toxic) bool {
	switch {
	case t.toxicity >= 1:
		return true
	case t.toxicity <= 0:
		return false
	}
	l.rollMu.Lock()
	defer l.rollMu.Unlock()
	r, ok := l.rolls[t.id]
	if !ok || r.toxicity != t.toxicity {
		r = roll{toxicity: t.toxicity, hit: rand.Float64() < t.toxicity}
		l.rolls[t.id] = r
	}
	return r.hit
}
